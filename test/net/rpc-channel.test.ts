import type { ComponentLogger, Libp2p, Logger, Stream } from '@libp2p/interface'
import { sha3_256 } from '@noble/hashes/sha3.js'
import { MemoryLevel } from 'memory-level'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { QfsError } from '../../src/core/errors.js'
import { objectId, shardId } from '../../src/core/ids.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { verifyStorageProof } from '../../src/core/proof.js'
import type { VersionRecord } from '../../src/core/record.js'
import { blockRanges, shardRanges } from '../../src/core/shards.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import type { NodeService } from '../../src/engine/node-service.js'
import { dialTarget, openExchange } from '../../src/net/dial.js'
import { RemoteError, StreamTimeoutError } from '../../src/net/errors.js'
import { FrameStream } from '../../src/net/frame-stream.js'
import {
  encodeDataFrame,
  encodeEndFrame,
  encodeErrorFrame,
  encodeJsonFrame,
  type Frame,
  type JsonObject,
  MAX_FRAME_BYTES,
} from '../../src/net/frames.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { PROTOCOLS, resolveLimits } from '../../src/net/protocols.js'
import { RpcChannels } from '../../src/net/rpc-client.js'
import {
  MAX_INLINE_SHARD_BYTES,
  MAX_RPC_IN_FLIGHT,
  MAX_RPC_INLINE_BYTES_IN_FLIGHT,
  MAX_STAGE_SHARDS,
} from '../../src/net/rpc-messages.js'
import { type StorageProtocolService, storageProtocol } from '../../src/net/service.js'
import { Libp2pTransport } from '../../src/net/transport.js'
import { MiniNetwork } from '../../src/node/mini-network.js'
import type { RootDb } from '../../src/store/index.js'
import { testAuditKey } from '../engine/harness.js'
import { bytesOf, meta } from '../engine/suite.js'
import { drainFrames, openStreams, testPeerKey } from './harness.js'

// One file on purpose: every case below shares one network fixture (a server over a MiniNetwork
// node, a client, an intruder, a fake node and a quiet peer), which costs more to build than the
// cases take to run.
const BLOCK = DEFAULT_PARAMS.blockSizeBytes
const OBJ_A = objectId('rpc', 'a')
const OBJ_B = objectId('rpc', 'b')
const CONTENT_A = bytesOf('rpc-a', 5 * BLOCK + 17)
const CONTENT_B = bytesOf('rpc-b', 1000)

interface Deferred<T = void> {
  promise: Promise<T>
  resolve: (value: T) => void
}
function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/**
 * getRecord and openShard (a stage) of a held object wait until the test lets them go; `entered`
 * counts the calls that began.
 */
interface Hold {
  entered: number
  began: Deferred
  release: Deferred
}

/** The real NodeService of the server, with getRecord and openShard held for chosen objects. */
function heldService(real: NodeService, holds: Map<string, Hold>): NodeService {
  return new Proxy(real, {
    get(target, prop) {
      if (prop === 'openShard') {
        return async (header: { object_id: string }, options?: { signal?: AbortSignal }) => {
          const hold = holds.get(header.object_id)
          if (hold !== undefined) {
            hold.entered++
            hold.began.resolve()
            await hold.release.promise
          }
          return target.openShard(header as Parameters<NodeService['openShard']>[0], options)
        }
      }
      if (prop === 'stageShards') {
        return async (...args: Parameters<NodeService['stageShards']>) => {
          const [shards] = args
          const hold = holds.get(shards[0]?.header.object_id ?? '')
          if (hold !== undefined) {
            hold.entered++
            hold.began.resolve()
            await hold.release.promise
          }
          return target.stageShards(...args)
        }
      }
      if (prop === 'getRecord') {
        return async (oid: string, version: number | 'latest') => {
          const hold = holds.get(oid)
          if (hold !== undefined) {
            hold.entered++
            hold.began.resolve()
            await hold.release.promise
          }
          return target.getRecord(oid, version)
        }
      }
      const value: unknown = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/**
 * Captures the peers whose exchanges the storage service logs as failed, so a clean end of a
 * channel can be told from a failure.
 */
function capturingLogger(failures: string[]): ComponentLogger {
  const log: Logger = Object.assign(() => {}, {
    error: (_format: unknown, _protocol: unknown, peer: unknown) => {
      failures.push(String(peer))
    },
    trace: () => {},
    enabled: true,
    newScope: (): Logger => log,
  })
  return { forComponent: () => log }
}

async function settle(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => 'resolved',
    (err: unknown) => err,
  )
}

describe('replica/rpc channel over real libp2p nodes (TCP, Noise, yamux on 127.0.0.1)', () => {
  let server: Libp2p
  let client: Libp2p
  let intruder: Libp2p
  let fake: Libp2p
  /** An eligible peer used only where the test checks that the server logged no failure from it. */
  let quiet: Libp2p
  let serverId: string
  let fakeId: string
  let mini: MiniNetwork
  let service: StorageProtocolService
  let real: NodeService
  let recordA: VersionRecord
  const holds = new Map<string, Hold>()
  const failures: string[] = []
  const failedFrom = (node: Libp2p) => failures.filter((p) => p === node.peerId.toString()).length
  const transports: Libp2pTransport[] = []

  const addrsOf = (id: string) =>
    id === serverId ? server.getMultiaddrs() : id === fakeId ? fake.getMultiaddrs() : []
  const transportFrom = (node: Libp2p, limits = { idleTimeoutMs: 5_000, requestTimeoutMs: 5_000 }) => {
    const t = new Libp2pTransport({ libp2p: node, resolve: addrsOf }, { limits })
    transports.push(t)
    return t
  }
  const hold = (oid: string): Hold => {
    const h: Hold = { entered: 0, began: deferred(), release: deferred() }
    holds.set(oid, h)
    return h
  }
  const unhold = (oid: string) => {
    holds.get(oid)?.release.resolve()
    holds.delete(oid)
  }
  /** Replica channels `node` has open to `peer`, by direction (reset ones may linger a moment). */
  const rpcStreams = (node: Libp2p, peer: Libp2p, direction: 'inbound' | 'outbound'): Stream[] =>
    openStreams(node, PROTOCOLS.replicaRpc, { peer: peer.peerId, direction })
  const rawChannel = async (from: Libp2p = client, to: Libp2p = server): Promise<FrameStream> => {
    const stream = await from.dialProtocol(to.getMultiaddrs(), PROTOCOLS.replicaRpc)
    return new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, idleMs: 5_000 })
  }

  beforeAll(async () => {
    const node = async (i: number): Promise<Libp2p> =>
      createQfsLibp2p({ privateKey: await testPeerKey(i), listen: ['/ip4/127.0.0.1/tcp/0'] })
    ;[server, client, intruder, fake, quiet] = await Promise.all([
      node(20),
      node(21),
      node(22),
      node(23),
      node(24),
    ])
    serverId = server.peerId.toString()
    fakeId = fake.peerId.toString()
    // Three nodes at replication factor 3: the server keeps every record and every shard.
    mini = await MiniNetwork.create({
      nodeIds: [serverId, 'node-b', 'node-c'],
      openDb: async () => {
        const db = new MemoryLevel({ keyEncoding: 'view', valueEncoding: 'view' })
        await db.open()
        return db as unknown as RootDb
      },
      auditKey: testAuditKey,
    })
    expect((await mini.engine('node-b').putContent(OBJ_A, 1, CONTENT_A, meta(1))).ok).toBe(true)
    expect((await mini.engine('node-b').putContent(OBJ_B, 1, CONTENT_B, meta(2))).ok).toBe(true)
    real = mini.node(serverId).service
    recordA = (await real.getRecord(OBJ_A, 1))!
    service = storageProtocol({
      node: heldService(real, holds),
      isEligiblePeer: (peer) => peer === client.peerId.toString() || peer === quiet.peerId.toString(),
      limits: { idleTimeoutMs: 1_000, requestTimeoutMs: 5_000 },
    })({ registrar: server, logger: capturingLogger(failures) })
    await service.start()
  })

  afterAll(async () => {
    for (const h of holds.values()) h.release.resolve()
    for (const t of transports) t.close()
    await Promise.all([server, client, intruder, fake, quiet].filter(Boolean).map((n) => n.stop()))
    await mini?.close()
  })

  it("answers 50 mixed concurrent requests on a peer's two channels (reads, writes), each correctly", async () => {
    const transport = transportFrom(client)
    const shards = recordA.shards.filter((s) => s.leaf_count > 0)
    const calls = Array.from({ length: 50 }, async (_, i) => {
      if (i % 2 === 0) {
        const oid = i % 4 === 0 ? OBJ_A : OBJ_B
        expect(await transport.getRecord(serverId, oid, 1)).toEqual(await real.getRecord(oid, 1))
        return
      }
      const shard = shards[i % shards.length]!
      const leaf = i % shard.leaf_count
      const proof = await transport.proveShard(serverId, shard.shard_id, leaf)
      expect(proof.leaf_index).toBe(leaf)
      expect(
        verifyStorageProof(proof, {
          merkleRoot: shard.merkle_root,
          shardId: shard.shard_id,
          leafCount: shard.leaf_count,
          objectId: OBJ_A,
          version: 1,
        }),
      ).toEqual({ ok: true })
    })
    // The other operations ride the same channels meanwhile (commit and abort the write one).
    const missing = transport.getRecord(serverId, objectId('rpc', 'missing'), 'latest')
    const commit = transport.commitVersion(serverId, { record: recordA, staged: [] })
    const abort = transport.abortStaging(serverId, ['ab'.repeat(16)])
    const range = shardRanges(CONTENT_A.length, DEFAULT_PARAMS)[1]!
    const lastBlock = blockRanges(range.end - range.start, BLOCK).at(-1)!
    const fetched = (async () => {
      const blocks: Uint8Array[] = []
      for await (const b of transport.fetchShard(serverId, shardId(OBJ_A, 1, 1), lastBlock.index, {
        blocks: 1,
      }))
        blocks.push(b)
      return blocks
    })()
    await Promise.all(calls)
    expect(await missing).toBeUndefined()
    expect(await commit).toEqual({
      node_id: serverId,
      event_id: null,
      idempotent: true,
      home: true,
      shard_ids: [],
      // A home signs what it keeps (an Ed25519 signature: 64 bytes).
      acceptance: expect.stringMatching(/^[0-9a-f]{128}$/),
    })
    await abort
    const blocks = await fetched
    expect(blocks).toHaveLength(1)
    expect(
      Buffer.from(blocks[0]!).equals(
        CONTENT_A.subarray(range.start + lastBlock.start, range.start + lastBlock.end),
      ),
    ).toBe(true)
    expect(server.getConnections(client.peerId)).toHaveLength(1)
    expect(rpcStreams(client, server, 'outbound')).toHaveLength(2)
    expect(rpcStreams(server, client, 'inbound')).toHaveLength(2)
    // No replica stream of any other kind was opened for these.
    const others = client
      .getConnections(server.peerId)
      .flatMap((c) => c.streams)
      .filter((s) => s.protocol?.startsWith('/qfs/storage/') && s.protocol !== PROTOCOLS.replicaRpc)
    expect(others).toHaveLength(0)
    transport.close()
  })

  it('stages a small shard inline: its bytes arrive whole and are rooted by the replica', async () => {
    const transport = transportFrom(client)
    const oid = objectId('rpc', 'stage')
    for (const length of [0, 1, 4097, MAX_INLINE_SHARD_BYTES]) {
      const bytes = bytesOf(`rpc-stage-${length}`, length)
      const header = {
        object_id: oid,
        version: 1,
        shard_index: 0,
        shard_id: shardId(oid, 1, 0),
        length,
        block_size_bytes: BLOCK,
      }
      const sink = await transport.openShard(serverId, header)
      await sink.write(bytes.subarray(0, length >> 1))
      await sink.write(bytes.subarray(length >> 1))
      const staged = await sink.finish()
      // One block at most (length <= the block size): the root is the leaf hash, H(0x00 || block),
      // computed here with @noble/hashes; an empty shard's root is H("").
      const leaf = new Uint8Array(length + 1)
      leaf.set(bytes, 1)
      const root = sha3_256(length === 0 ? new Uint8Array(0) : leaf)
      expect(staged).toMatchObject({
        node_id: serverId,
        shard_id: header.shard_id,
        length,
        leaf_count: length === 0 ? 0 : 1,
        merkle_root: Buffer.from(root).toString('hex'),
      })
    }
    transport.close()
  })

  it('answers a fast request while a slow one on the same channel is still running', async () => {
    const transport = transportFrom(client)
    const h = hold(OBJ_B)
    try {
      const order: string[] = []
      const slow = transport.getRecord(serverId, OBJ_B, 1).then((r) => {
        order.push('slow')
        return r
      })
      await h.began.promise
      for (let i = 0; i < 5; i++) {
        expect(await transport.getRecord(serverId, OBJ_A, 1)).toEqual(recordA)
        order.push('fast')
      }
      expect(order).toEqual(['fast', 'fast', 'fast', 'fast', 'fast'])
      h.release.resolve()
      expect((await slow)?.object_id).toBe(OBJ_B)
      expect(order.at(-1)).toBe('slow')
      expect(rpcStreams(client, server, 'outbound')).toHaveLength(1)
    } finally {
      unhold(OBJ_B)
      transport.close()
    }
  })

  it(`runs at most ${MAX_RPC_IN_FLIGHT} requests of one channel at once, then the rest`, async () => {
    const transport = transportFrom(client)
    const held = objectId('rpc', 'held')
    const h = hold(held)
    try {
      const all = Array.from({ length: MAX_RPC_IN_FLIGHT + 6 }, () => transport.getRecord(serverId, held, 1))
      await vi.waitFor(() => expect(h.entered).toBe(MAX_RPC_IN_FLIGHT))
      // A round trip on another channel of the same connection: the six requests sent before it are
      // at the server by now, and the channel has not started them.
      const probe = transportFrom(client)
      expect(await probe.getRecord(serverId, OBJ_A, 1)).toEqual(recordA)
      probe.close()
      expect(h.entered).toBe(MAX_RPC_IN_FLIGHT)
      h.release.resolve()
      expect(await Promise.all(all)).toEqual(all.map(() => undefined))
      expect(h.entered).toBe(MAX_RPC_IN_FLIGHT + 6)
    } finally {
      unhold(held)
      transport.close()
    }
  })

  it('holds at most MAX_RPC_INLINE_BYTES_IN_FLIGHT of stage bytes per channel, then takes the rest', async () => {
    const transport = transportFrom(client)
    const held = objectId('rpc', 'held-bytes')
    const h = hold(held)
    const fits = MAX_RPC_INLINE_BYTES_IN_FLIGHT / MAX_INLINE_SHARD_BYTES
    const header = {
      object_id: held,
      version: 1,
      shard_index: 0,
      shard_id: shardId(held, 1, 0),
      length: MAX_INLINE_SHARD_BYTES,
      block_size_bytes: BLOCK,
    }
    const bytes = bytesOf('held-bytes', MAX_INLINE_SHARD_BYTES)
    try {
      const stages = Array.from({ length: fits + 3 }, async () => {
        const sink = await transport.openShard(serverId, header)
        await sink.write(bytes)
        return sink.finish()
      })
      await vi.waitFor(() => expect(h.entered).toBe(fits))
      // A round trip on another channel: the three stages sent before it have arrived and wait.
      const probe = transportFrom(client)
      expect(await probe.getRecord(serverId, OBJ_A, 1)).toEqual(recordA)
      probe.close()
      expect(h.entered).toBe(fits)
      h.release.resolve()
      const staged = await Promise.all(stages)
      expect(h.entered).toBe(fits + 3)
      expect(new Set(staged.map((s) => s.merkle_root)).size).toBe(1)
      await transport.abortStaging(
        serverId,
        staged.map((s) => s.staging_id),
      )
    } finally {
      unhold(held)
      transport.close()
    }
  })

  describe('hostile frames on a raw channel from an eligible peer', () => {
    const replyOf = (f: Frame) => (f.type === 'json' ? f.value : f)
    const invalid = {
      code: 'INVALID_INPUT',
      error_code: 'SE_ERR_INVALID_INPUT',
      error_detail: expect.any(String),
    }

    it('answers a bad request with ok:false under its id and goes on serving the channel', async () => {
      const fs = await rawChannel(quiet)
      const send = (value: JsonObject) => fs.write(encodeJsonFrame(value))
      const okRecord = { object_id: OBJ_A, version: 1 }
      const badHeader = {
        object_id: 'XYZ',
        version: 1,
        shard_index: 0,
        shard_id: shardId(OBJ_A, 9, 0),
        length: 3,
        block_size_bytes: BLOCK,
      }
      await send({ id: 1, op: 'nope', body: {} })
      await send({ id: 2, op: 'record', body: { object_id: 'XYZ', version: 1 } })
      await send({ id: 3, op: 'record', body: okRecord, extra: true })
      await send({ id: 4, op: 'prove', body: 7 })
      await send({ id: 5, op: 'record' })
      // A stage whose header is refused: its bytes are still read, so the channel stays in step.
      await send({ id: 6, op: 'stage', body: { shards: [badHeader] } })
      await fs.write(encodeDataFrame(Uint8Array.of(1, 2)))
      await fs.write(encodeDataFrame(Uint8Array.of(3)))
      await send({ id: 7, op: 'prove', body: { shard_id: shardId(OBJ_B, 9, 0), leaf_index: 0 } })
      await send({ id: 0xffff_ffff, op: 'record', body: okRecord })
      const replies = new Map<number, unknown>()
      for (let i = 0; i < 8; i++) {
        const r = replyOf(await fs.read(AbortSignal.timeout(5_000))) as { id: number }
        replies.set(r.id, r)
      }
      for (const id of [1, 2, 3, 4, 5, 6]) expect(replies.get(id)).toEqual({ id, ok: false, error: invalid })
      const unknownShard = await settle(real.proveShard(shardId(OBJ_B, 9, 0), 0))
      expect(unknownShard).toBeInstanceOf(QfsError)
      expect(replies.get(7)).toMatchObject({
        id: 7,
        ok: false,
        error: { code: (unknownShard as QfsError).code },
      })
      expect(replies.get(0xffff_ffff)).toEqual({
        id: 0xffff_ffff,
        ok: true,
        body: { record: recordA },
        data: false,
      })
      // END at a request boundary ends the channel cleanly: no ERROR frame, nothing logged.
      await fs.writeEnd()
      await fs.close()
      expect(await drainFrames(fs)).toEqual({ frames: [], end: 'STREAM_ENDED' })
      expect(failedFrom(quiet)).toBe(0)
    })

    const stage = (id: number, length: unknown): JsonObject => ({
      id,
      op: 'stage',
      body: {
        shards: [
          {
            object_id: OBJ_A,
            version: 9,
            shard_index: 0,
            shard_id: shardId(OBJ_A, 9, 0),
            length,
            block_size_bytes: BLOCK,
          },
        ],
      },
    })
    const stageOf = (id: number, lengths: number[]): JsonObject => ({
      id,
      op: 'stage',
      body: {
        shards: lengths.map((length) => ({
          ...(stage(id, length).body as { shards: JsonObject[] }).shards[0]!,
          length,
        })),
      },
    })
    const channelFailures: Array<[string, Uint8Array[][], string]> = [
      ['a request without an id', [encodeJsonFrame({ op: 'record', body: {} })], 'FRAME_INVALID'],
      ['an id above u32', [encodeJsonFrame({ id: 2 ** 32, op: 'record', body: {} })], 'FRAME_INVALID'],
      ['a negative id', [encodeJsonFrame({ id: -1, op: 'record', body: {} })], 'FRAME_INVALID'],
      ['a fractional id', [encodeJsonFrame({ id: 1.5, op: 'record', body: {} })], 'FRAME_INVALID'],
      ['a string id', [encodeJsonFrame({ id: '1', op: 'record', body: {} })], 'FRAME_INVALID'],
      ['DATA where a request is expected', [encodeDataFrame(Uint8Array.of(1))], 'UNEXPECTED_FRAME'],
      // The client's own ERROR ends the channel, but its code is not taken as the node's own.
      [
        'an ERROR frame from the client',
        [encodeErrorFrame({ code: 'CLIENT_GAVE_UP', error_code: 'SE_ERR_INTERNAL', error_detail: 'x' })],
        'STREAM_ENDED',
      ],
      ['a frame of an unknown type', [[Uint8Array.of(0x02, 0x09, 0x00)]], 'UNKNOWN_MESSAGE'],
      [
        `a stage of ${MAX_INLINE_SHARD_BYTES + 1} bytes`,
        [encodeJsonFrame(stage(1, MAX_INLINE_SHARD_BYTES + 1))],
        'FRAME_INVALID',
      ],
      ['a stage without a length', [encodeJsonFrame(stage(1, 'x'))], 'FRAME_INVALID'],
      [
        `a stage of ${MAX_STAGE_SHARDS + 1} shards`,
        [
          encodeJsonFrame(
            stageOf(
              1,
              Array.from({ length: MAX_STAGE_SHARDS + 1 }, () => 0),
            ),
          ),
        ],
        'FRAME_INVALID',
      ],
      ['a stage of no shards', [encodeJsonFrame(stageOf(1, []))], 'FRAME_INVALID'],
      [
        'a stage whose shards together exceed the inline bound',
        [encodeJsonFrame(stageOf(1, [MAX_INLINE_SHARD_BYTES, 1]))],
        'FRAME_INVALID',
      ],
      [
        'a stage with more bytes than its length',
        [encodeJsonFrame(stage(1, 3)), encodeDataFrame(Uint8Array.of(1, 2, 3, 4))],
        'FRAME_INVALID',
      ],
      [
        'a stage whose bytes are cut by the next request',
        [
          encodeJsonFrame(stage(1, 4)),
          encodeDataFrame(Uint8Array.of(1, 2)),
          encodeJsonFrame({ id: 2, op: 'record', body: { object_id: OBJ_A, version: 1 } }),
        ],
        'UNEXPECTED_FRAME',
      ],
    ]
    for (const [name, frames, code] of channelFailures) {
      it(`fails the channel on ${name} with an ERROR frame (${code}) and the stream ends`, async () => {
        const fs = await rawChannel()
        for (const f of frames) await fs.write(f)
        const { frames: got, end } = await drainFrames(fs)
        expect(got).toHaveLength(1)
        expect(got[0]).toMatchObject({ type: 'error', error: { code } })
        expect(end).toBe('STREAM_ENDED')
        fs.abort(new Error('test done'))
      })
    }

    it('answers the requests it read before failing the channel, then the ERROR frame', async () => {
      const fs = await rawChannel()
      await fs.write(encodeJsonFrame({ id: 1, op: 'record', body: { object_id: OBJ_A, version: 1 } }))
      await fs.write(encodeJsonFrame({ op: 'record', body: {} }))
      const { frames } = await drainFrames(fs)
      expect(frames.map(replyOf)).toEqual([
        { id: 1, ok: true, body: { record: recordA }, data: false },
        expect.objectContaining({ type: 'error', error: expect.objectContaining({ code: 'FRAME_INVALID' }) }),
      ])
      fs.abort(new Error('test done'))
    })

    it('takes a channel closed without END for one cut short (STREAM_ENDED), after its answers', async () => {
      const fs = await rawChannel()
      await fs.write(encodeJsonFrame({ id: 3, op: 'record', body: { object_id: OBJ_A, version: 1 } }))
      await fs.close()
      const { frames } = await drainFrames(fs)
      expect(frames.map(replyOf)).toEqual([
        { id: 3, ok: true, body: { record: recordA }, data: false },
        expect.objectContaining({ type: 'error', error: expect.objectContaining({ code: 'STREAM_ENDED' }) }),
      ])
    })

    it('keeps serving other channels while one fails', async () => {
      const good = await rawChannel()
      const bad = await rawChannel()
      await bad.write(encodeDataFrame(Uint8Array.of(1)))
      expect((await drainFrames(bad)).frames[0]).toMatchObject({ type: 'error' })
      bad.abort(new Error('test done'))
      await good.write(encodeJsonFrame({ id: 9, op: 'record', body: { object_id: OBJ_A, version: 1 } }))
      expect(replyOf(await good.read(AbortSignal.timeout(5_000)))).toEqual({
        id: 9,
        ok: true,
        body: { record: recordA },
        data: false,
      })
      good.abort(new Error('test done'))
      const transport = transportFrom(client)
      expect(await transport.getRecord(serverId, OBJ_A, 1)).toEqual(recordA)
      transport.close()
    })
  })

  it('refuses a peer outside the eligible set (NOT_ELIGIBLE) before any request reaches the node', async () => {
    const h = hold(OBJ_B)
    try {
      const err = await settle(transportFrom(intruder).getRecord(serverId, OBJ_B, 1))
      expect(err).toBeInstanceOf(RemoteError)
      expect(err).toMatchObject({ code: 'NOT_ELIGIBLE', errorCode: 'SE_ERR_AEGIS_CONTEXT_MISSING' })
      const fs = await rawChannel(intruder)
      await fs.write(encodeJsonFrame({ id: 1, op: 'record', body: { object_id: OBJ_B, version: 1 } }))
      const { frames } = await drainFrames(fs)
      expect(frames).toHaveLength(1)
      expect(frames[0]).toMatchObject({ type: 'error', error: { code: 'NOT_ELIGIBLE' } })
      fs.abort(new Error('test done'))
      expect(h.entered).toBe(0)
    } finally {
      unhold(OBJ_B)
    }
  })

  it("lets an outsider that never closes its end hold a refused channel for a moment, not the channel's idle wait", async () => {
    // This server's channels wait 4 s (4 x its 1 s idle timeout) for a next request; a refusal waits
    // REFUSAL_DRAIN_MS (1 s) at most for the outsider to close, then resets the stream.
    const fs = await rawChannel(intruder)
    const started = performance.now()
    await fs.write(encodeJsonFrame({ id: 1, op: 'record', body: { object_id: OBJ_B, version: 1 } }))
    expect(await fs.read(AbortSignal.timeout(5_000))).toMatchObject({
      type: 'error',
      error: { code: 'NOT_ELIGIBLE' },
    })
    while (rpcStreams(server, intruder, 'inbound').length > 0 && performance.now() - started < 10_000)
      await new Promise((r) => setTimeout(r, 50))
    expect(rpcStreams(server, intruder, 'inbound')).toHaveLength(0)
    expect(performance.now() - started).toBeLessThan(3_000)
    fs.abort(new Error('test done'))
  })

  describe('the calling end', () => {
    it('fails pending requests when the channel is reset, and opens a new one for the next', async () => {
      const transport = transportFrom(client)
      const h = hold(OBJ_B)
      try {
        const pending = [transport.getRecord(serverId, OBJ_B, 1), transport.getRecord(serverId, OBJ_B, 1)]
        await vi.waitFor(() => expect(h.entered).toBe(2))
        for (const s of rpcStreams(server, client, 'inbound')) s.abort(new Error('reset by the test'))
        for (const p of pending) expect(await settle(p)).toBeInstanceOf(NodeUnavailableError)
        expect(h.entered).toBe(2)
        expect(await transport.getRecord(serverId, OBJ_A, 1)).toEqual(recordA)
        expect(rpcStreams(client, server, 'outbound')).toHaveLength(1)
      } finally {
        unhold(OBJ_B)
        transport.close()
      }
    })

    it('fails pending requests when the node stops serving, and succeeds once it is back', async () => {
      const transport = transportFrom(client)
      const h = hold(OBJ_B)
      let down = false
      try {
        const pending = transport.getRecord(serverId, OBJ_B, 1)
        await h.began.promise
        down = true
        await service.stop()
        for (const c of server.getConnections(client.peerId)) c.abort(new Error('node down'))
        expect(await settle(pending)).toBeInstanceOf(NodeUnavailableError)
        expect(await settle(transport.getRecord(serverId, OBJ_A, 1))).toBeInstanceOf(NodeUnavailableError)
        await service.start()
        down = false
        expect(await transport.getRecord(serverId, OBJ_A, 1)).toEqual(recordA)
      } finally {
        if (down) await service.start()
        unhold(OBJ_B)
        transport.close()
      }
    })

    it('rejects an aborted request at once while the others on the channel complete', async () => {
      const transport = transportFrom(client)
      const h = hold(OBJ_B)
      try {
        const aborter = new AbortController()
        const aborted = transport.getRecord(serverId, OBJ_B, 1, { signal: aborter.signal })
        const other = transport.getRecord(serverId, OBJ_B, 1)
        await vi.waitFor(() => expect(h.entered).toBe(2))
        aborter.abort()
        // Settled while the node still holds its answer.
        expect(await settle(aborted)).toBeInstanceOf(NodeUnavailableError)
        expect(await transport.getRecord(serverId, OBJ_A, 1)).toEqual(recordA)
        h.release.resolve()
        // The late answer to the aborted id is dropped; the channel goes on.
        expect((await other)?.object_id).toBe(OBJ_B)
        expect(await transport.getRecord(serverId, OBJ_B, 1)).toEqual(await real.getRecord(OBJ_B, 1))
        expect(rpcStreams(client, server, 'outbound')).toHaveLength(1)
      } finally {
        unhold(OBJ_B)
        transport.close()
      }
    })

    it('does not let one request aborted while the channel opens fail the others', async () => {
      const transport = transportFrom(client)
      const aborter = new AbortController()
      const aborted = transport.getRecord(serverId, OBJ_A, 1, { signal: aborter.signal })
      const other = transport.getRecord(serverId, OBJ_A, 1)
      aborter.abort()
      expect(await settle(aborted)).toBeInstanceOf(NodeUnavailableError)
      expect(await other).toEqual(recordA)
      transport.close()
    })

    /** RpcChannels straight on libp2p, with a short idle timeout and a count of channels opened. */
    function idleChannels(idleTimeoutMs: number) {
      const limits = resolveLimits({ idleTimeoutMs, requestTimeoutMs: 5_000 })
      const state = { opened: 0, idleTicks: 0, tick: deferred() }
      const channels = new RpcChannels(async (nodeId, signal) => {
        const fs = await openExchange(
          quiet,
          dialTarget(nodeId, addrsOf(nodeId)),
          PROTOCOLS.replicaRpc,
          limits,
          signal,
          nodeId,
        )
        state.opened++
        // Observes the channel's idle timer going off (a read that timed out).
        const read = fs.read.bind(fs)
        fs.read = async (s) => {
          try {
            return await read(s)
          } catch (err) {
            if (err instanceof StreamTimeoutError) {
              state.idleTicks++
              state.tick.resolve()
            }
            throw err
          }
        }
        return fs
      }, limits)
      return { channels, state }
    }

    it('closes a quiet channel after the idle timeout, cleanly, and reopens on the next request', async () => {
      const { channels, state } = idleChannels(150)
      const ask = () => channels.request(serverId, 'record', { object_id: OBJ_A, version: 1 })
      expect((await ask()).body).toEqual({ record: recordA })
      expect((await ask()).body).toEqual({ record: recordA })
      expect(state.opened).toBe(1)
      await state.tick.promise
      // Closed at both ends, and the server saw an end, not a failure.
      await vi.waitFor(() => {
        expect(rpcStreams(quiet, server, 'outbound')).toHaveLength(0)
        expect(rpcStreams(server, quiet, 'inbound')).toHaveLength(0)
      })
      expect(failedFrom(quiet)).toBe(0)
      expect((await ask()).body).toEqual({ record: recordA })
      expect(state.opened).toBe(2)
      channels.close()
    })

    it('gives a request sent on a quiet channel a whole idle period for its answer', async () => {
      const { channels, state } = idleChannels(400)
      const h = hold(OBJ_B)
      try {
        expect((await channels.request(serverId, 'record', { object_id: OBJ_A, version: 1 })).body).toEqual({
          record: recordA,
        })
        // Sent while the channel's idle timer runs; answered only after that timer went off.
        const late = channels.request(serverId, 'record', { object_id: OBJ_B, version: 1 })
        await h.began.promise
        await state.tick.promise
        h.release.resolve()
        expect((await late).body).toEqual({ record: await real.getRecord(OBJ_B, 1) })
        expect(state.opened).toBe(1)
      } finally {
        unhold(OBJ_B)
        channels.close()
      }
    })
  })

  describe('answers that break the protocol (a fake node on the rpc protocol id)', () => {
    type Misbehaviour = (id: number, send: (parts: Uint8Array[]) => void) => void
    const json = (value: JsonObject) => encodeJsonFrame(value)
    const misbehaviours: Record<string, Misbehaviour> = {
      'a reply without data': (id, send) => send(json({ id, ok: true, body: { record: null } })),
      'a reply with an unknown field': (id, send) =>
        send(json({ id, ok: true, body: { record: null }, data: false, more: 1 })),
      'a reply whose body is not a record answer': (id, send) =>
        send(json({ id, ok: true, body: { record: 5 }, data: false })),
      'a reply whose body is an array': (id, send) => send(json({ id, ok: true, body: [], data: false })),
      'a reply with a bad id': (id, send) =>
        send(json({ id: -id, ok: true, body: { record: null }, data: false })),
      'a failure with a malformed error': (id, send) => send(json({ id, ok: false, error: { code: 'x' } })),
      'a reply announcing data, then END': (id, send) => {
        send(json({ id, ok: true, body: { record: null }, data: true }))
        send(encodeEndFrame())
      },
      'bytes that are not a frame': (_id, send) => send([Uint8Array.of(0x00)]),
      'END instead of an answer': (_id, send) => send(encodeEndFrame()),
      'DATA instead of an answer': (_id, send) => send(encodeDataFrame(Uint8Array.of(7))),
    }
    const asked = (name: string) => objectId('fake', name)

    beforeAll(async () => {
      const byObject = new Map(Object.entries(misbehaviours).map(([name, m]) => [asked(name), m]))
      await fake.handle(PROTOCOLS.replicaRpc, async (stream) => {
        const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, idleMs: 5_000 })
        const send = (parts: Uint8Array[]) => {
          for (const p of parts) stream.send(p)
        }
        try {
          for (;;) {
            const frame = await fs.read()
            if (frame.type !== 'json') break
            const id = frame.value.id as number
            const body = frame.value.body as JsonObject
            if (frame.value.op === 'commit') {
              const other = { node_id: 'another-node', event_id: null, idempotent: true, home: true }
              send(json({ id, ok: true, body: { ...other, shard_ids: [] }, data: false }))
            } else if (frame.value.op === 'fetch') {
              send(json({ id, ok: true, body: { blocks: 1 }, data: false }))
            } else if (body.object_id === asked('remote')) {
              const error = { code: 'NOT_FOUND', error_code: 'SE_ERR_NOT_FOUND', error_detail: 'none here' }
              send(json({ id, ok: false, error }))
            } else if (body.object_id === asked('ERROR frame')) {
              send(encodeErrorFrame({ code: 'TIMEOUT', error_code: 'SE_ERR_INTERNAL', error_detail: 'slow' }))
            } else if (body.object_id === asked('silent')) {
              // Never answered.
            } else {
              const m = byObject.get(body.object_id as string)
              if (m === undefined) send(json({ id, ok: true, body: { record: null }, data: false }))
              else m(id, send)
            }
          }
        } catch {
          // The test's client went away.
        }
      })
    })

    for (const name of Object.keys(misbehaviours)) {
      it(`fails the request with NODE_UNAVAILABLE on ${name}`, async () => {
        const transport = transportFrom(client)
        expect(await settle(transport.getRecord(fakeId, asked(name), 1))).toBeInstanceOf(NodeUnavailableError)
        // Whatever broke, the next request gets an answer (on this channel or a new one).
        expect(await transport.getRecord(fakeId, asked('fine'), 1)).toBeUndefined()
        transport.close()
      })
    }

    it('fails a commit answered for another node, and a fetch whose DATA is missing', async () => {
      const transport = transportFrom(client)
      expect(await settle(transport.commitVersion(fakeId, { record: recordA, staged: [] }))).toBeInstanceOf(
        NodeUnavailableError,
      )
      const fetch = (async () => {
        for await (const _ of transport.fetchShard(fakeId, shardId(OBJ_A, 1, 0), 0, { blocks: 1 })) {
          expect.unreachable()
        }
      })()
      expect(await settle(fetch)).toBeInstanceOf(NodeUnavailableError)
      transport.close()
    })

    it("keeps the remote's code for an ok:false answer; a channel's ERROR frame is the node failing", async () => {
      const transport = transportFrom(client)
      expect(await settle(transport.getRecord(fakeId, asked('remote'), 1))).toMatchObject({
        code: 'NOT_FOUND',
        errorCode: 'SE_ERR_NOT_FOUND',
      })
      // An ERROR frame fails the channel, not the request: no home's verdict may be read into it.
      const err = await settle(transport.getRecord(fakeId, asked('ERROR frame'), 1))
      expect(err).toBeInstanceOf(NodeUnavailableError)
      expect((err as Error).cause).toBeInstanceOf(RemoteError)
      expect((err as Error).cause).toMatchObject({ code: 'TIMEOUT' })
      transport.close()
    })

    it('fails an unanswered request at its deadline', async () => {
      const transport = transportFrom(client, { idleTimeoutMs: 5_000, requestTimeoutMs: 300 })
      expect(await settle(transport.getRecord(fakeId, asked('silent'), 1))).toBeInstanceOf(
        NodeUnavailableError,
      )
      expect(await transport.getRecord(fakeId, asked('fine'), 1)).toBeUndefined()
      transport.close()
    })
  })
})
