import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { QfsError } from '../../src/core/errors.js'
import { objectId } from '../../src/core/ids.js'
import type { JsonObject } from '../../src/net/frames.js'
import { parseNodeAddress } from '../../src/sdk/address.js'
import { QfsClient } from '../../src/sdk/client.js'
import { meta } from '../engine/suite.js'
import { testPeerKey } from '../net/harness.js'
import {
  EVENT_ID,
  type Fixture,
  fixture,
  HOLDERS,
  honestProof,
  honestRead,
  honestStore,
  type ReadScript,
  type StubNode,
  stubNode,
} from './stub.js'

const BLOCK = 262_144
const MISMATCH = { ok: false, error_code: 'SE_ERR_INTEGRITY_MISMATCH', code: 'INTEGRITY_MISMATCH' }

function flipByte(bytes: Uint8Array, at: number): Uint8Array {
  const copy = Uint8Array.from(bytes)
  copy[at] = copy[at]! ^ 0x01
  return copy
}

function withRecord(script: ReadScript, change: (record: JsonObject) => void): ReadScript {
  const record = structuredClone(script.header.record) as JsonObject
  change(record)
  return {
    ...script,
    header: {
      ...script.header,
      object_id: record.object_id,
      version: record.version,
      kind: record.kind,
      hash_commit: record.hash_commit,
      content_size: record.content_size,
      metadata: record.metadata,
      record,
    },
  }
}

describe('QfsClient checks what a lying coordinator serves', () => {
  let stub: StubNode
  let client: QfsClient
  let f: Fixture

  beforeAll(async () => {
    stub = await stubNode()
    // A client that starts and owns its own libp2p node.
    client = await QfsClient.create({ node: stub.address, timeouts: { requestMs: 3_000, idleMs: 3_000 } })
    f = fixture('lies', 5 * BLOCK + 333)
  })
  afterAll(async () => {
    await client?.close()
    await stub?.close()
  })

  const serveRead = (script: ReadScript) => {
    stub.behaviour.read = () => script
  }

  it('accepts an honest answer (so the failures below are the lies, not the stub)', async () => {
    serveRead(honestRead(f))
    const got = await client.getContent(f.oid, 1)
    if (!got.ok) throw new Error(JSON.stringify(got))
    expect(Buffer.from(got.content_bytes).equals(f.content)).toBe(true)
    expect(got.hash_commit).toBe(f.record.hash_commit)
    expect(got.proofs.map((p) => p.shard_id)).toEqual(f.record.shards.map((s) => s.shard_id))
    expect(got.storage_event_id).toBe(EVENT_ID)
  })

  it('refuses a tampered DATA frame in any shard', async () => {
    for (const at of [0, f.layout[1]!.start + BLOCK + 5, f.content.length - 1]) {
      const script = honestRead(f, f.content.length)
      serveRead({ ...script, data: [flipByte(f.content, at)] })
      expect(await client.getContent(f.oid, 1)).toMatchObject({ ...MISMATCH, storage_event_id: EVENT_ID })
    }
  })

  it('throws INTEGRITY_MISMATCH from a streaming read', async () => {
    const script = honestRead(f, f.content.length)
    serveRead({ ...script, data: [flipByte(f.content, 17)] })
    const opened = await client.readContent(f.oid, 1)
    if (!('content' in opened)) throw new Error(JSON.stringify(opened))
    const err = await (async () => {
      for await (const _ of opened.content) {
        // consumed
      }
    })().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(QfsError)
    expect((err as QfsError).code).toBe('INTEGRITY_MISMATCH')
  })

  it('lets a reader stop early or never start, and stays usable', async () => {
    serveRead(honestRead(f))
    const early = await client.readContent(f.oid, 1)
    if (!('content' in early)) throw new Error(JSON.stringify(early))
    for await (const piece of early.content) {
      expect(piece.length).toBeGreaterThan(0)
      break
    }
    const unread = await client.readContent(f.oid, 1)
    if (!('content' in unread)) throw new Error(JSON.stringify(unread))
    unread.cancel()
    const whole = await client.getContent(f.oid, 1)
    expect(whole.ok && Buffer.from(whole.content_bytes).equals(f.content)).toBe(true)
  })

  it('refuses content that is short, long, or cut off before the trailer', async () => {
    const script = honestRead(f, f.content.length)
    serveRead({ ...script, data: [f.content.subarray(0, f.content.length - 1)] })
    expect(await client.getContent(f.oid, 1)).toMatchObject(MISMATCH)
    serveRead({ ...script, data: [f.content, Uint8Array.of(1)] })
    expect(await client.getContent(f.oid, 1)).toMatchObject(MISMATCH)
    serveRead({ ...script, trailer: null })
    expect(await client.getContent(f.oid, 1)).toMatchObject({ ok: false, code: 'NODE_UNAVAILABLE' })
  })

  it('refuses a record other than the one asked for, even a self-consistent one', async () => {
    const other = fixture('someone-else', 1000)
    serveRead(honestRead(other))
    expect(await client.getContent(f.oid, 1)).toMatchObject(MISMATCH)
    expect(await client.getContent(f.oid)).toMatchObject(MISMATCH)
    // Version 2 asked, version 1's record served.
    serveRead(honestRead(f))
    expect(await client.getContent(f.oid, 2)).toMatchObject(MISMATCH)
  })

  it("refuses bytes that do not rebuild the record's roots or hash_commit", async () => {
    const root = withRecord(honestRead(f), (r) => {
      ;(r.shards as JsonObject[])[2]!.merkle_root = 'cd'.repeat(32)
    })
    serveRead(root)
    expect(await client.getContent(f.oid, 1)).toMatchObject(MISMATCH)
    const commit = withRecord(honestRead(f), (r) => {
      r.hash_commit = 'ef'.repeat(32)
    })
    serveRead(commit)
    expect(await client.getContent(f.oid, 1)).toMatchObject(MISMATCH)
  })

  it("refuses a header whose metadata is not the record's (hash_commit binds the record's)", async () => {
    const script = honestRead(f)
    serveRead({ ...script, header: { ...script.header, metadata: { ...f.metadata, tags: ['forged'] } } })
    expect(await client.getContent(f.oid, 1)).toMatchObject(MISMATCH)
  })

  it('refuses a latest read that answers a delete marker, and a trailer naming a non-holder', async () => {
    const marker = fixture('marker', 0)
    const script = withRecord(honestRead(marker), (r) => {
      r.kind = 'DELETE_MARKER'
    })
    serveRead(script)
    expect(await client.getContent(marker.oid)).toMatchObject(MISMATCH)
    const honest = honestRead(f)
    const proofs = structuredClone((honest.trailer as JsonObject).proofs) as JsonObject[]
    proofs[0]!.served_by = 'not-a-holder'
    serveRead({ ...honest, trailer: { ok: true, proofs } })
    expect(await client.getContent(f.oid, 1)).toMatchObject(MISMATCH)
  })

  it('keeps the record of a read for later proof checks only once the read verified', async () => {
    const c = fixture('cached-record', 3 * BLOCK)
    // Roots that the bytes (and the trailer) do not meet: the read fails, and its record is not kept.
    const forged = withRecord(honestRead(c), (r) => {
      ;(r.shards as JsonObject[])[1]!.merkle_root = 'ab'.repeat(32)
    })
    serveRead(forged)
    expect(await client.getContent(c.oid, 1)).toMatchObject(MISMATCH)
    serveRead(honestRead(c))
    const fresh = await client.getRecord(c.oid, 1)
    expect(fresh).toMatchObject({ shards: c.record.shards.map((s) => ({ merkle_root: s.merkle_root })) })
    // After a verified read, the record is the client's own: a node answering another one later is
    // not asked.
    expect((await client.getContent(c.oid, 1)).ok).toBe(true)
    serveRead(forged)
    expect(await client.getRecord(c.oid, 1)).toMatchObject({
      shards: c.record.shards.map((s) => ({ merkle_root: s.merkle_root })),
    })
  })

  it('keeps no record of a read cancelled before its last byte, even one read on to its quiet end', async () => {
    const c = fixture('cancelled-record', 3 * BLOCK)
    // Shard 1's root is forged: the first piece (in shard 0) passes, nothing after it is checked.
    serveRead(
      withRecord(honestRead(c), (r) => {
        ;(r.shards as JsonObject[])[1]!.merkle_root = 'ab'.repeat(32)
      }),
    )
    const opened = await client.readContent(c.oid, 1)
    if (!('content' in opened)) throw new Error(JSON.stringify(opened))
    let pieces = 0
    for await (const _ of opened.content) {
      if (++pieces === 1) opened.cancel()
    }
    expect(pieces).toBe(1)
    // The next getRecord asks the node (honest now), rather than answering the forged roots.
    serveRead(honestRead(c))
    expect(await client.getRecord(c.oid, 1)).toMatchObject({
      shards: c.record.shards.map((s) => ({ merkle_root: s.merkle_root })),
    })
  })

  it('verifies storage proofs against the record before answering ok', async () => {
    serveRead(honestRead(f))
    const shard = f.record.shards[1]!
    stub.behaviour.proof = () => honestProof(f, 1, 1)
    const ok = await client.getStorageProof(f.oid, 1, shard.shard_id, { leafIndex: 1 })
    expect(ok).toMatchObject({ ok: true, merkle_root: shard.merkle_root })
    // Another block than the one asked for.
    expect(await client.getStorageProof(f.oid, 1, shard.shard_id, { leafIndex: 0 })).toMatchObject(MISMATCH)
    // A tampered block.
    stub.behaviour.proof = () => {
      const answer = honestProof(f, 1, 0)
      const proof = answer.proof as JsonObject
      const block = Buffer.from(proof.block as string, 'base64')
      block[0] = block[0]! ^ 1
      return { ...answer, proof: { ...proof, block: block.toString('base64') } }
    }
    expect(await client.getStorageProof(f.oid, 1, shard.shard_id)).toMatchObject(MISMATCH)
    // A self-consistent proof over other content: its root is not the record's.
    const forged = fixture('forged-proof', 5 * BLOCK + 333)
    stub.behaviour.proof = () => ({
      ...honestProof(forged, 1, 0),
      object_id: f.oid,
      shard_id: shard.shard_id,
      proof: {
        ...(honestProof(forged, 1, 0).proof as JsonObject),
        object_id: f.oid,
        shard_id: shard.shard_id,
      },
    })
    expect(await client.getStorageProof(f.oid, 1, shard.shard_id)).toMatchObject(MISMATCH)
    // The unverified answer is there for auditors who check it themselves.
    expect(await client.fetchStorageProof(f.oid, 1, shard.shard_id)).toMatchObject({ ok: true })
  })

  it('checks a store answer against the bytes it sent and the formulas', async () => {
    const w = fixture('write', 2 * BLOCK + 1)
    stub.behaviour.store = () => honestStore(w)
    const ok = await client.putContent(w.oid, 1, w.content, meta(7))
    expect(ok).toMatchObject({ ok: true, hash_commit: w.record.hash_commit })
    stub.behaviour.store = () => ({ ...honestStore(w), hash_commit: 'ab'.repeat(32) })
    expect(await client.putContent(w.oid, 1, w.content, meta(7))).toMatchObject(MISMATCH)
    stub.behaviour.store = () => ({ ...honestStore(w), atr_cost: '1.000000000000000000' })
    expect(await client.putContent(w.oid, 1, w.content, meta(7))).toMatchObject(MISMATCH)
    const sets = honestStore(w).replica_sets as Record<string, string[]>
    const first = Object.keys(sets)[0]!
    stub.behaviour.store = () => ({
      ...honestStore(w),
      replica_sets: { ...sets, [first]: [HOLDERS[0]!, HOLDERS[0]!, HOLDERS[1]!] },
    })
    expect(await client.putContent(w.oid, 1, w.content, meta(7))).toMatchObject(MISMATCH)
  })

  it('says a write whose node stopped answering after the whole content may have taken effect', async () => {
    const w = fixture('write-unknown', 3000)
    stub.behaviour.store = () => {
      throw new Error('the node died after reading the content')
    }
    const lost = await client.putContent(w.oid, 1, w.content, meta(7))
    expect(lost).toMatchObject({ ok: false, code: 'WRITE_OUTCOME_UNKNOWN', error_code: 'SE_ERR_INTERNAL' })
    expect((lost as { error_detail: string }).error_detail).toMatch(/identical write again is safe/)
    // The caller giving up after the last byte leaves the outcome just as open; before it, nothing.
    // The stub has the whole content (END) when it is asked for its answer: the caller gives up then.
    const giveUp = new AbortController()
    stub.behaviour.store = () => {
      giveUp.abort()
      return new Promise((resolve) => setTimeout(() => resolve(honestStore(w)), 1_000))
    }
    const gaveUp = await client.putContent(w.oid, 1, w.content, meta(7), { signal: giveUp.signal })
    expect(gaveUp).toMatchObject({ ok: false, code: 'WRITE_OUTCOME_UNKNOWN' })
    expect((gaveUp as { error_detail: string }).error_detail).toMatch(/or the caller gave up/)
    const early = new AbortController()
    early.abort()
    expect(await client.putContent(w.oid, 1, w.content, meta(7), { signal: early.signal })).toMatchObject({
      ok: false,
      code: 'NODE_UNAVAILABLE',
    })
    // A node that refuses (answers) is no unknown outcome: its refusal comes through as it is.
    stub.behaviour.store = () => ({
      ok: false,
      error_code: 'SE_ERR_INVALID_VERSION',
      code: 'VERSION_CONFLICT',
      error_detail: 'taken',
      storage_event_id: null,
    })
    expect(await client.putContent(w.oid, 1, w.content, meta(7))).toMatchObject({
      ok: false,
      code: 'VERSION_CONFLICT',
    })
  })

  it('checks a listing page is sorted and within its filters', async () => {
    const a = fixture('list-a', 10)
    const b = fixture('list-b', 10)
    const summary = (x: Fixture) => ({
      object_id: x.oid,
      version: 1,
      kind: 'STORE',
      hash_commit: x.record.hash_commit,
      content_size: 10,
      created_at_tick: 7,
      metadata: x.metadata as unknown as JsonObject,
    })
    const sorted = [summary(a), summary(b)].sort((x, y) => (x.object_id < y.object_id ? -1 : 1))
    stub.behaviour.list = () => ({ next_cursor: null, objects: sorted })
    expect(await client.listObjects({})).toMatchObject({ ok: true, objects: sorted })
    stub.behaviour.list = () => ({ next_cursor: null, objects: [...sorted].reverse() })
    expect(await client.listObjects({})).toMatchObject(MISMATCH)
    stub.behaviour.list = () => ({ next_cursor: null, objects: sorted })
    expect(await client.listObjects({ prefix: sorted[1]!.object_id.slice(0, 8) })).toMatchObject(MISMATCH)
    expect(await client.listObjects({ tick_from: 8 })).toMatchObject(MISMATCH)
    expect(await client.listObjects({ limit: 1 })).toMatchObject(MISMATCH)
    expect(await client.listObjects('nope')).toMatchObject({ ok: false, error_code: 'SE_ERR_INVALID_INPUT' })
  })
})

describe('QfsClient addresses and unreachable nodes', () => {
  it('refuses a node address that is not a multiaddr naming its peer', async () => {
    for (const node of ['not a multiaddr', '/ip4/127.0.0.1/tcp/1', '/ip4/127.0.0.1/tcp/1/p2p/notapeer', 42]) {
      const err = await QfsClient.create({ node: node as string }).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toMatchObject({ code: 'INVALID_INPUT' })
    }
  })

  it('calls an empty node address empty, not an address naming no peer', () => {
    // multiaddr('') parses as '/': the message used to read "/ names no peer".
    for (const node of ['', '  ']) {
      expect(() => parseNodeAddress(node)).toThrow(
        expect.objectContaining({
          code: 'INVALID_INPUT',
          message: expect.stringMatching(/^the node address is empty/),
        }),
      )
    }
  })

  it('answers NODE_UNAVAILABLE (SE_ERR_INTERNAL, no event) for every call when nobody listens', async () => {
    const peer = peerIdFromPrivateKey(await testPeerKey(3000)).toString()
    const client = await QfsClient.create({
      node: `/ip4/127.0.0.1/tcp/1/p2p/${peer}`,
      timeouts: { requestMs: 2_000, idleMs: 2_000 },
    })
    try {
      const down = {
        ok: false,
        error_code: 'SE_ERR_INTERNAL',
        code: 'NODE_UNAVAILABLE',
        storage_event_id: null,
      }
      const oid = objectId('unreachable', 'x')
      expect(await client.putContent(oid, 1, Uint8Array.of(1), meta(1))).toMatchObject(down)
      expect(await client.deleteContent(oid, 2, meta(1))).toMatchObject(down)
      expect(await client.getContent(oid)).toMatchObject(down)
      expect(await client.readContent(oid, 1)).toMatchObject(down)
      expect(await client.getStorageProof(oid, 1, oid)).toMatchObject(down)
      expect(await client.listObjects({})).toMatchObject(down)
    } finally {
      await client.close()
    }
  })
})
