import { MemoryLevel } from 'memory-level'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex, u32, utf8 } from '../../src/core/bytes.js'
import { canonicalJson } from '../../src/core/canonical.js'
import { sha3 } from '../../src/core/hash.js'
import { objectId } from '../../src/core/ids.js'
import { MAX_AUTHOR_BYTES, MAX_TAG_BYTES, MAX_TAGS, normalizeMetadata } from '../../src/core/metadata.js'
import { MAX_FEE_EVENTS, MAX_TELEMETRY_NODE_ID_BYTES } from '../../src/engine/metadata-limits.js'
import { MAX_EVENT_BYTES, type StorageEvent } from '../../src/log/index.js'
import { MiniNetwork } from '../../src/node/mini-network.js'
import { readCounters } from '../../src/store/counters.js'
import type { RootDb } from '../../src/store/index.js'
import { testAuditKey } from './harness.js'
import { bytesOf, meta } from './suite.js'

/**
 * PROTOCOL.md bounds tags but not atr_fee_events (nor the telemetry stub's node_id), while every
 * StorageEvent is capped at MAX_EVENT_BYTES and a write's STORE and REPLICA_COMMIT events embed the
 * whole metadata. The node refuses such metadata at the request boundary (a node limit,
 * docs/protocol.md 4.1), before any byte is staged, instead of failing at the log.
 */
const feeIds = (n: number, salt = 0) => Array.from({ length: n }, (_, i) => toHex(sha3(u32(salt), u32(i))))

// U+0001 is one UTF-8 byte that canonical JSON writes as six (\u0001): the costliest character.
const CTRL = '\u0001'
// Node ids at the log's limit (128 UTF-8 bytes), every one escaped six-fold in events.
const nodeIds = Array.from({ length: 5 }, (_, i) => `${CTRL.repeat(MAX_AUTHOR_BYTES - 2)}n${i}`)

/** Metadata at every bound: the schema's (author, tags) and this node's (fee events, stub node id). */
function maximalMetadata() {
  // Tags keep U+0001 (not white space for Python's strip): 32 distinct tags of 64 bytes.
  const tags = Array.from(
    { length: MAX_TAGS },
    (_, i) => `${CTRL.repeat(MAX_TAG_BYTES - 2)}${String(i).padStart(2, '0')}`,
  )
  return {
    author_node_id: CTRL.repeat(MAX_AUTHOR_BYTES),
    created_at_tick: Number.MAX_SAFE_INTEGER,
    tags,
    openagi_score: 1_000_000,
    atr_fee_events: feeIds(MAX_FEE_EVENTS),
    aegis_telemetry_stub: {
      node_id: CTRL.repeat(MAX_TELEMETRY_NODE_ID_BYTES),
      proof_result: 'NONE',
      latency_band: Number.MAX_SAFE_INTEGER,
      at_epoch: Number.MAX_SAFE_INTEGER,
    },
  }
}

async function eventsOf(net: MiniNetwork, nodeId: string): Promise<StorageEvent[]> {
  const out: StorageEvent[] = []
  for await (const e of net.node(nodeId).log.iterate()) out.push(e)
  return out
}

describe('node limits on metadata', () => {
  let net: MiniNetwork
  beforeAll(async () => {
    net = await MiniNetwork.create({
      nodeIds,
      openDb: async () => {
        const db = new MemoryLevel({ keyEncoding: 'view', valueEncoding: 'view' })
        await db.open()
        return db as unknown as RootDb
      },
      auditKey: testAuditKey,
      engine: { timeouts: { requestMs: 5_000, streamIdleMs: 5_000 } },
    })
  })
  afterAll(async () => {
    await net?.close()
  })

  const stagingSeqs = () =>
    Promise.all(nodeIds.map(async (id) => (await readCounters(net.node(id).store.sublevels)).staging_seq))

  it('refuses more fee events than the node limit as INVALID_METADATA, before staging a byte', async () => {
    const m = meta(1, { atr_fee_events: feeIds(1200) })
    expect(normalizeMetadata(m).atr_fee_events).toHaveLength(1200) // PROTOCOL.md itself accepts it
    const before = await stagingSeqs()
    const r = await net.engine(nodeIds[0]!).putContent(objectId('limits', 'fee'), 1, bytesOf('fee', 10), m)
    expect(r).toMatchObject({ ok: false, code: 'INVALID_METADATA', error_code: 'SE_ERR_INVALID_INPUT' })
    if (r.ok) return
    expect(r.error_detail).toContain(`at most ${MAX_FEE_EVENTS} (node limit)`)
    expect(r.storage_event_id).not.toBeNull()
    expect(await stagingSeqs()).toEqual(before)
  })

  it('counts distinct ids: 256 pass even when sent with duplicates, 257 do not', async () => {
    const ids = feeIds(MAX_FEE_EVENTS, 1)
    const withDuplicates = meta(1, { atr_fee_events: [...ids, ...ids.slice(0, 100)] })
    const ok = await net
      .engine(nodeIds[1]!)
      .putContent(objectId('limits', 'dups'), 1, bytesOf('d', 10), withDuplicates)
    expect(ok.ok).toBe(true)
    const over = meta(1, { atr_fee_events: feeIds(MAX_FEE_EVENTS + 1, 2) })
    const r = await net.engine(nodeIds[1]!).putContent(objectId('limits', 'over'), 1, bytesOf('o', 10), over)
    expect(r).toMatchObject({ ok: false, code: 'INVALID_METADATA' })
  })

  // In UTF-8 bytes, not characters: 65 two-byte characters are 130 bytes.
  it.each([
    { label: 'ascii', nodeId: 'n'.repeat(MAX_TELEMETRY_NODE_ID_BYTES + 1) },
    { label: 'two-byte characters', nodeId: '\u00e9'.repeat(MAX_TELEMETRY_NODE_ID_BYTES / 2 + 1) },
  ])('refuses a telemetry stub node id longer than 128 bytes ($label)', async ({ label, nodeId }) => {
    const stub = {
      node_id: nodeId,
      proof_result: 'PASS',
      latency_band: 1,
      at_epoch: 1,
    }
    const r = await net
      .engine(nodeIds[2]!)
      .putContent(
        objectId('limits', `stub-${label}`),
        1,
        bytesOf('s', 10),
        meta(1, { aegis_telemetry_stub: stub }),
      )
    expect(r).toMatchObject({ ok: false, code: 'INVALID_METADATA' })
    if (r.ok) return
    expect(r.error_detail).toContain('node limit')
  })

  it('stores and logs a write whose metadata and node ids are at every bound', async () => {
    const m = maximalMetadata()
    const coordinator = nodeIds[3]!
    const before = (await eventsOf(net, coordinator)).length
    const oid = objectId('limits', 'maximal')
    const r = await net.engine(coordinator).putContent(oid, 1, bytesOf('max', 5000), m, { timestampTick: 1 })
    expect(r).toMatchObject({ ok: true, under_replicated: {} })
    if (!r.ok) return
    const normal = normalizeMetadata(m)
    // The canonical metadata alone is most of the budget; the events holding it still fit.
    expect(utf8(canonicalJson(normal)).length).toBeGreaterThan(30_000)
    const store = (await eventsOf(net, coordinator)).slice(before).find((e) => e.event_type === 'STORE')
    expect(store).toMatchObject({
      event_id: r.storage_event_id,
      object_id: oid,
      details: { metadata: normal },
    })
    let commits = 0
    let largest = 0
    for (const id of nodeIds) {
      for (const e of await eventsOf(net, id)) {
        largest = Math.max(largest, utf8(canonicalJson(e)).length)
        if (e.event_type === 'REPLICA_COMMIT' && e.object_id === oid) {
          commits++
          expect(e.details).toMatchObject({ metadata: normal })
        }
      }
    }
    expect(commits).toBeGreaterThanOrEqual(3)
    expect(largest).toBeLessThanOrEqual(MAX_EVENT_BYTES)
    const read = await net.engine(nodeIds[4]!).getContent(oid, 1)
    expect(read).toMatchObject({ ok: true, metadata: normal })
  })
})
