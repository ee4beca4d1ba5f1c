import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { atrCost } from '../../src/core/atr.js'
import { toHex } from '../../src/core/bytes.js'
import { hashCommit } from '../../src/core/commit.js'
import { shardId } from '../../src/core/ids.js'
import { metadataSeed, normalizeMetadata } from '../../src/core/metadata.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { encodeErrorFrame, type JsonObject } from '../../src/net/frames.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { QfsClient } from '../../src/sdk/client.js'
import { meta } from '../engine/suite.js'
import { type HostileNode, hostileNode } from './hostile.js'
import {
  EVENT_ID,
  fixture,
  HOLDERS,
  honestProof,
  honestRead,
  honestStore,
  type StubNode,
  stubNode,
} from './stub.js'

const MISMATCH = { ok: false, error_code: 'SE_ERR_INTEGRITY_MISMATCH', code: 'INTEGRITY_MISMATCH' }

/**
 * Lies a coordinator can tell in a field the SDK computes itself (a write's kind and size, a delete
 * marker's commitment, a page's default limit), and requests it must send as asked: each answer is
 * honest but for the one lie, so only the check of that field can refuse it.
 */
describe('QfsClient against answers honest but for one field', () => {
  let stub: StubNode
  let client: QfsClient

  beforeAll(async () => {
    stub = await stubNode(2050)
    client = await QfsClient.create({ node: stub.address, timeouts: { requestMs: 3_000, idleMs: 3_000 } })
  })
  afterAll(async () => {
    await client?.close()
    await stub?.close()
  })

  it("refuses a store answer whose kind or content_size is not the write's, even with a fee that fits", async () => {
    // 3000 bytes and 2999 cost the same 3 KiB: only the size check sees the lie.
    const w = fixture('one-lie-write', 3000)
    stub.behaviour.store = () => honestStore(w)
    expect(await client.putContent(w.oid, 1, w.content, meta(7))).toMatchObject({ ok: true })
    stub.behaviour.store = () => ({ ...honestStore(w), content_size: 2999 })
    expect(await client.putContent(w.oid, 1, w.content, meta(7))).toMatchObject(MISMATCH)
    stub.behaviour.store = () => ({ ...honestStore(w), kind: 'UPDATE' })
    expect(await client.putContent(w.oid, 1, w.content, meta(7))).toMatchObject(MISMATCH)
  })

  it('commits to the bytes of a streamed write as they go out, and checks the answer against them', async () => {
    const w = fixture('one-lie-stream', 3 * 262_144 + 7)
    const stream = () => ({
      size: w.content.length,
      chunks: (async function* () {
        for (let off = 0; off < w.content.length; off += 100_000) yield w.content.subarray(off, off + 100_000)
      })(),
    })
    stub.behaviour.store = () => honestStore(w)
    expect(await client.putContent(w.oid, 1, stream(), meta(7))).toMatchObject({ ok: true })
    stub.behaviour.store = () => ({
      ...honestStore(w),
      hash_commit: fixture('one-lie-other', 10).record.hash_commit,
    })
    expect(await client.putContent(w.oid, 1, stream(), meta(7))).toMatchObject(MISMATCH)
  })

  it("checks a delete answer: a marker's kind, its empty content and the commitment of its metadata", async () => {
    const oid = fixture('one-lie-delete', 10).oid
    const metadata = meta(9, { tags: ['gone'] })
    const honest: JsonObject = {
      ok: true,
      object_id: oid,
      version: 2,
      kind: 'DELETE_MARKER',
      hash_commit: toHex(
        hashCommit(
          new Uint8Array(0),
          DEFAULT_PARAMS.schemaVersion,
          metadataSeed(normalizeMetadata(metadata)),
        ),
      ),
      content_size: 0,
      shard_ids: [0, 1, 2, 3].map((i) => shardId(oid, 2, i)),
      replica_sets: Object.fromEntries([0, 1, 2, 3].map((i) => [shardId(oid, 2, i), HOLDERS])),
      atr_cost: atrCost(0, 4, 3).toString(),
      under_replicated: {},
      storage_event_id: EVENT_ID,
    }
    stub.behaviour.store = () => honest
    expect(await client.deleteContent(oid, 2, metadata)).toMatchObject({ ok: true })
    // Another commitment (the empty content under other metadata), another kind, bytes in a marker
    // (5 bytes cost what 0 do).
    const otherMeta = toHex(hashCommit(new Uint8Array(0), 1, metadataSeed(normalizeMetadata(meta(9)))))
    for (const lie of [{ hash_commit: otherMeta }, { kind: 'UPDATE' }, { content_size: 5 }]) {
      stub.behaviour.store = () => ({ ...honest, ...lie })
      expect(await client.deleteContent(oid, 2, metadata)).toMatchObject(MISMATCH)
    }
  })

  it('checks a page against the default limit of 100 when the caller gave none', async () => {
    const x = fixture('one-lie-list', 10)
    const objects = Array.from({ length: 101 }, (_, i) => ({
      object_id: x.oid,
      version: i + 1,
      kind: 'STORE',
      hash_commit: x.record.hash_commit,
      content_size: 10,
      created_at_tick: 7,
      metadata: x.metadata as unknown as JsonObject,
    }))
    stub.behaviour.list = () => ({ next_cursor: null, objects: objects.slice(0, 100) })
    expect(await client.listObjects({})).toMatchObject({ ok: true })
    stub.behaviour.list = () => ({ next_cursor: null, objects })
    expect(await client.listObjects({})).toMatchObject(MISMATCH)
  })

  it('refuses a page for filters the engine refuses, which the node should have refused', async () => {
    stub.behaviour.list = () => ({ next_cursor: null, objects: [] })
    for (const filters of [{ limit: 0 }, { limit: 1001 }, { tick_from: -1 }]) {
      expect(await client.listObjects(filters)).toMatchObject(MISMATCH)
    }
  })

  it('asks for the block it was asked to prove', async () => {
    const f = fixture('one-lie-proof', 5 * 262_144 + 333)
    stub.behaviour.read = () => honestRead(f)
    stub.behaviour.proof = (request) => honestProof(f, 1, (request.leaf_index as number | undefined) ?? 0)
    const shard = f.record.shards[1]!.shard_id
    expect(await client.getStorageProof(f.oid, 1, shard, { leafIndex: 1 })).toMatchObject({
      ok: true,
      proof: { leaf_index: 1 },
    })
  })

  it("keeps a node's failure after the read header as its own, with the read's event id", async () => {
    const node: HostileNode = await hostileNode(2051)
    const reader = await QfsClient.create({
      node: node.address,
      timeouts: { requestMs: 3_000, idleMs: 3_000 },
    })
    try {
      const f = fixture('one-lie-failure', 3 * 262_144)
      const honest = honestRead(f)
      await node.answer(PROTOCOLS.read, async (fs) => {
        await fs.writeJson(honest.header)
        await fs.writeData(f.content.subarray(0, 1000))
        await fs.write(
          encodeErrorFrame({
            code: 'SHARD_UNAVAILABLE',
            error_code: 'SE_ERR_NO_ELIGIBLE_NODES',
            error_detail: 'no replica answered',
          }),
        )
      })
      expect(await reader.getContent(f.oid, 1)).toMatchObject({
        ok: false,
        code: 'SHARD_UNAVAILABLE',
        error_code: 'SE_ERR_NO_ELIGIBLE_NODES',
        error_detail: 'no replica answered',
        storage_event_id: EVENT_ID,
      })
    } finally {
      await reader.close()
      await node.close()
    }
  })
})
