import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { verifyStorageProof } from '../../src/core/proof.js'
import type { VersionRecord } from '../../src/core/record.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import { StorageClient } from '../../src/net/client.js'
import { RemoteError } from '../../src/net/errors.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { Libp2pTransport } from '../../src/net/transport.js'
import { bytesOf, meta } from '../engine/suite.js'
import { type Libp2pNetwork, libp2pHarness } from './harness.js'

const BLOCK = 262_144

function expectOk<T extends { ok: boolean }>(r: T): asserts r is Extract<T, { ok: true }> {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r)}`)
}

/** A streamed source in odd-sized pieces, so frame and block boundaries never line up. */
async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let off = 0; off < bytes.length; off += size)
    yield bytes.subarray(off, Math.min(off + size, bytes.length))
}

describe('QFS storage over real libp2p nodes (TCP, Noise, yamux on 127.0.0.1)', () => {
  let net: Libp2pNetwork
  let client: StorageClient
  let nodeIds: string[]
  const addrsOf = (id: string) =>
    (net.membership.current().nodes.get(id)?.multiaddrs ?? []).map((a) => multiaddr(a))
  /** The record as a catalogue home keeps it: the independent source of shard roots. */
  const homeRecord = async (oid: string, version: number): Promise<VersionRecord> => {
    const homes = net.membership.current().eligible.catalogueHomes(oid, 3)
    const record = await net.locals.get(homes[0]!)!.service.getRecord(oid, version)
    if (record === undefined) throw new Error('home lacks the record')
    return record
  }

  beforeAll(async () => {
    net = await libp2pHarness(5)
    nodeIds = net.nodeIds
    client = new StorageClient({ libp2p: net.outsider })
  })
  afterAll(async () => {
    await net?.close()
  })

  it('stores through one coordinator and reads byte-identical through another', async () => {
    for (const size of [0, 1, 3 * 1024 * 1024 + 5]) {
      const oid = objectId('net', `rt-${size}`)
      const content = bytesOf(`net-rt-${size}`, size)
      expectOk(await net.engine(nodeIds[1]!).putContent(oid, 1, content, meta(50)))
      const got = await net.engine(nodeIds[3]!).getContent(oid, 1)
      expectOk(got)
      expect(Buffer.from(got.content_bytes).equals(content)).toBe(true)
    }
  })

  it('keeps one connection per peer pair, at most two replica channels each way (reads, writes), and no stream of a finished operation', async () => {
    for (const [id, node] of net.libp2p) {
      const peers = node.getConnections().map((c) => c.remotePeer.toString())
      expect(peers).not.toContain(id)
      expect(new Set(peers).size).toBe(peers.length)
      for (const c of node.getConnections()) {
        const qfs = c.streams.filter((s) => s.protocol?.startsWith('/qfs/storage/'))
        const channels = qfs.filter((s) => s.protocol === PROTOCOLS.replicaRpc)
        expect(qfs.length - channels.length).toBe(0)
        for (const direction of ['inbound', 'outbound'] as const)
          expect(channels.filter((s) => s.direction === direction).length).toBeLessThanOrEqual(2)
      }
    }
  })

  it('answers get_proof with a proof that verifies against the record a home keeps', async () => {
    const oid = objectId('net', 'proof')
    const content = bytesOf('net-proof', 5 * BLOCK + 9)
    expectOk(await net.engine(nodeIds[0]!).putContent(oid, 1, content, meta(51)))
    const record = await homeRecord(oid, 1)
    for (const shard of record.shards) {
      const r = await net.engine(nodeIds[4]!).getStorageProof(oid, 1, shard.shard_id)
      expectOk(r)
      const verdict = verifyStorageProof(r.proof, {
        merkleRoot: shard.merkle_root,
        shardId: shard.shard_id,
        leafCount: shard.leaf_count,
        objectId: oid,
        version: 1,
      })
      expect(verdict).toEqual({ ok: true })
    }
  })

  it('lists objects across nodes', async () => {
    const r = await net.engine(nodeIds[2]!).listObjects({ prefix: '' })
    expectOk(r)
    const ids = r.objects.map((o) => o.object_id)
    expect(ids).toContain(objectId('net', 'proof'))
    expect([...ids].sort()).toEqual(ids)
  })

  it('refuses a peer outside the eligible set on every node-to-node protocol', async () => {
    const intruder = new Libp2pTransport({ libp2p: net.outsider, resolve: addrsOf })
    const target = nodeIds[0]!
    const refused = async (p: Promise<unknown>) => {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      )
      if (!(err instanceof RemoteError)) throw err
      expect(err).toBeInstanceOf(RemoteError)
      expect(err).toMatchObject({ code: 'NOT_ELIGIBLE', errorCode: 'SE_ERR_AEGIS_CONTEXT_MISSING' })
    }
    const oid = objectId('net', 'proof')
    await refused(intruder.getRecord(target, oid, 'latest'))
    await refused(intruder.getManifest(target, shardId(oid, 1, 0)))
    await refused(intruder.listRecords(target, {}))
    await refused(intruder.proveShard(target, shardId(oid, 1, 0), 0))
    await refused(intruder.abortStaging(target, ['x']))
    await refused(
      (async () => {
        for await (const _ of intruder.fetchShard(target, shardId(oid, 1, 0), 0)) expect.unreachable()
      })(),
    )
    const sink = await intruder.openShard(target, {
      object_id: oid,
      version: 9,
      shard_index: 0,
      shard_id: shardId(oid, 9, 0),
      length: 4,
      block_size_bytes: BLOCK,
    })
    await refused(
      (async () => {
        await sink.write(Uint8Array.of(1, 2, 3, 4))
        await sink.finish()
      })(),
    )
  })

  describe('the public client (StorageClient from a libp2p node outside the network)', () => {
    const coordinator = () => addrsOf(nodeIds[2]!)

    it('puts and reads back 0 B, 1 B and a few MiB, verifying every shard root and hash_commit', async () => {
      for (const size of [0, 1, 2 * 1024 * 1024 + 333]) {
        const oid = objectId('client', `size-${size}`)
        const content = bytesOf(`client-${size}`, size)
        let progress = 0
        const put = await client.put(
          coordinator(),
          { object_id: oid, version: 1, metadata: meta(60), content_size: size },
          pieces(content, 100_003),
          { onProgress: (n) => (progress = n) },
        )
        expectOk(put)
        expect(progress).toBe(size)
        const all = await client.readAll(addrsOf(nodeIds[0]!), { object_id: oid })
        expectOk(all)
        expect(all.hash_commit).toBe(put.hash_commit)
        expect(Buffer.from(all.content_bytes).equals(content)).toBe(true)
        expect(all.proofs.map((p) => p.shard_id)).toEqual(put.shard_ids)
      }
    })

    it('streams a read: header with the record, verified bytes, trailer', async () => {
      const oid = objectId('client', 'size-2097485')
      const opened = await client.read(coordinator(), { object_id: oid, version: 1 })
      expectOk(opened)
      expect(opened.record).toEqual(await homeRecord(oid, 1))
      let total = 0
      for await (const piece of opened.content) total += piece.length
      expect(total).toBe(opened.content_size)
      const trailer = await opened.trailer
      expectOk(trailer)
      expect(trailer.proofs).toHaveLength(4)
    })

    it('answers get_proof and list_objects in the QFS shapes', async () => {
      const oid = objectId('client', 'size-2097485')
      const record = await homeRecord(oid, 1)
      const shard = record.shards[1]!
      const proof = await client.getProof(coordinator(), {
        object_id: oid,
        version: 1,
        shard_id: shard.shard_id,
      })
      expectOk(proof)
      expect(
        verifyStorageProof(proof.proof, { merkleRoot: shard.merkle_root, shardId: shard.shard_id }),
      ).toEqual({
        ok: true,
      })
      const chosen = await client.getProof(coordinator(), {
        object_id: oid,
        version: 1,
        shard_id: shard.shard_id,
        leaf_index: 1,
      })
      expectOk(chosen)
      expect(chosen.proof.leaf_index).toBe(1)
      const listed = await client.list(coordinator(), { filters: { prefix: oid.slice(0, 6), limit: 10 } })
      expectOk(listed)
      expect(listed.objects.map((o) => o.object_id)).toContain(oid)
      expect(listed.next_cursor).toBeNull()
    })

    it('returns remote failures as {ok: false} shapes with the fine code', async () => {
      const oid = objectId('client', 'size-1')
      const missing = await client.readAll(coordinator(), { object_id: objectId('client', 'nothing') })
      expect(missing).toMatchObject({ ok: false, error_code: 'SE_ERR_NOT_FOUND', code: 'NOT_FOUND' })
      expect(missing.ok === false && missing.storage_event_id).toMatch(/^[0-9a-f]{64}$/)
      const conflict = await client.put(
        coordinator(),
        { object_id: oid, version: 1, metadata: meta(61) },
        Uint8Array.of(9),
      )
      expect(conflict).toMatchObject({
        ok: false,
        error_code: 'SE_ERR_INVALID_VERSION',
        code: 'VERSION_CONFLICT',
      })
      const bad = await client.put(
        coordinator(),
        { object_id: 'XYZ', version: 1, metadata: meta(1) },
        Uint8Array.of(1),
      )
      expect(bad).toMatchObject({ ok: false, error_code: 'SE_ERR_INVALID_INPUT', code: 'INVALID_INPUT' })
      const huge = await client.put(
        coordinator(),
        { object_id: oid, version: 2, metadata: meta(1), content_size: 2 ** 40 },
        pieces(new Uint8Array(10), 5),
      )
      expect(huge).toMatchObject({ ok: false, error_code: 'SE_ERR_INVALID_INPUT', code: 'CONTENT_TOO_LARGE' })
      const notJson = await client.put(
        coordinator(),
        { object_id: oid, version: 2, metadata: { x: undefined } },
        Uint8Array.of(1),
      )
      expect(notJson).toMatchObject({ ok: false, error_code: 'SE_ERR_INVALID_INPUT' })
      const shortContent = await client.put(
        coordinator(),
        { object_id: objectId('client', 'short'), version: 1, metadata: meta(1), content_size: 100 },
        pieces(new Uint8Array(10), 5),
      )
      expect(shortContent).toMatchObject({ ok: false, error_code: 'SE_ERR_INVALID_INPUT' })
    })

    it('stops sending when the coordinator refuses a write early', async () => {
      const oid = objectId('client', 'size-1')
      // Version 5 leaves a gap: the coordinator refuses before reading the 1 GiB announced. What the
      // client pushed meanwhile is bounded by flow control (stream windows and buffers), not the size.
      const GiB = 1024 * 1024 * 1024
      const chunk = new Uint8Array(1024 * 1024)
      let sent = 0
      const r = await client.put(
        coordinator(),
        { object_id: oid, version: 5, metadata: meta(62), content_size: GiB },
        (function* () {
          for (let i = 0; i < 1024; i++) yield chunk
        })(),
        { onProgress: (n) => (sent = n) },
      )
      expect(r).toMatchObject({ ok: false, error_code: 'SE_ERR_INVALID_VERSION' })
      expect(sent).toBeLessThan(GiB / 8)
    })

    it('writes a delete marker', async () => {
      const oid = objectId('client', 'size-0')
      const del = await client.delete(coordinator(), { object_id: oid, version: 2, metadata: meta(63) })
      expectOk(del)
      expect(del.kind).toBe('DELETE_MARKER')
      expect(await client.readAll(coordinator(), { object_id: oid })).toMatchObject({
        ok: false,
        code: 'NOT_FOUND',
      })
    })
  })

  it('fails over a stopped node, and reports it unavailable', async () => {
    const oid = objectId('net', 'stop')
    const content = bytesOf('net-stop', 6 * BLOCK + 1)
    expectOk(await net.engine(nodeIds[0]!).putContent(oid, 1, content, meta(70)))
    const record = await homeRecord(oid, 1)
    const victim = record.shards[0]!.replicas.find((n) => n !== nodeIds[0] && n !== nodeIds[1])!
    await net.libp2p.get(victim)!.stop()
    const got = await net.engine(nodeIds[1]!).getContent(oid, 1)
    expectOk(got)
    expect(Buffer.from(got.content_bytes).equals(content)).toBe(true)
    expect(got.proofs.every((p) => p.served_by !== victim)).toBe(true)
    const transport = new Libp2pTransport({ libp2p: net.libp2p.get(nodeIds[1]!)!, resolve: addrsOf })
    await expect(transport.getRecord(victim, oid, 1)).rejects.toBeInstanceOf(NodeUnavailableError)
    await expect(client.readAll(addrsOf(victim), { object_id: oid })).rejects.toBeInstanceOf(
      NodeUnavailableError,
    )
  })
})
