import { afterEach, describe, expect, it, vi } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { hashCommit } from '../../src/core/commit.js'
import { shardId } from '../../src/core/ids.js'
import { metadataSeed, normalizeMetadata } from '../../src/core/metadata.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { EligibleSet } from '../../src/core/placement.js'
import type { VersionRecord } from '../../src/core/record.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import { EventLog } from '../../src/log/index.js'
import { collect, memoryDb, NODE, storeFields, TEST_KEY } from '../log/fixtures.js'
import {
  afterTest,
  engineOn,
  expectOk,
  findObject,
  type Harness,
  recordAt,
  same,
  wrapAll,
} from './consistency-claims-helpers.js'
import { slowly, spyHealth } from './cut-short-helpers.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

/**
 * The statements of docs/consistency.md "What a reader sees" and of docs/protocol.md 4.2/4.3 that no
 * other test pinned.
 */

const BLOCK = DEFAULT_PARAMS.blockSizeBytes

let h: Harness | undefined
const undo: Array<() => void> = []
afterEach(async () => {
  h = await afterTest(h, undo)
})

describe('what a reader sees', () => {
  it('"latest" with one home down and another lagging answers the previous decided version', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'latest-lag', () => true)
    const [, h2, h3] = p.homes as [string, string, string]
    const writer = h.nodeIds.find((n) => !p.homes.includes(n))!
    expectOk(await h.engine(writer).putContent(p.oid, 1, bytesOf('lag-1', 3000), meta(1)))
    await h.setDown(h3, true)
    expectOk(await h.engine(writer).putContent(p.oid, 2, bytesOf('lag-2', 3000), meta(2)))
    await h.setDown(h3, false)
    await h.setDown(h2, true)
    try {
      expect(await engineOn(h, writer).getContent(p.oid)).toMatchObject({ ok: true, version: 1 })
    } finally {
      await h.setDown(h2, false)
    }
    expect(await engineOn(h, writer).getContent(p.oid)).toMatchObject({ ok: true, version: 2 })
  })

  it('a listing leaves out a version a read refuses, and waits for a slow suspect home whose vote it needs', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'listing', () => true)
    const [h1, h2, h3] = p.homes as [string, string, string]
    const writer = h.nodeIds.find((n) => !p.homes.includes(n))!
    await h.setDown(h3, true)
    expectOk(await h.engine(writer).putContent(p.oid, 1, bytesOf('listing', 3000), meta(1)))
    await h.setDown(h3, false)
    // h3 lags; with h1 away, one home of three holds the record.
    await h.setDown(h1, true)
    try {
      const reader = engineOn(h, writer)
      expect(await reader.getContent(p.oid, 1)).toMatchObject({ ok: false, code: 'QUORUM_NOT_REACHED' })
      expect(await reader.listObjects({ prefix: p.oid })).toMatchObject({ ok: true, objects: [] })
    } finally {
      await h.setDown(h1, false)
    }
    // h2 is suspect and slow: a phase that cuts suspects off would drop its vote, and the version.
    undo.push(
      wrapAll(h.net.transport, 'listRecords', (original, node, ...rest) =>
        node === h2 ? slowly(h2, 200)(original as never, node, ...rest) : original(node, ...rest),
      ),
    )
    const timeouts = { requestMs: 5_000, streamIdleMs: 5_000, suspectGraceMs: 5 }
    const listed = await engineOn(h, writer, { timeouts }, spyHealth([h2])).listObjects({ prefix: p.oid })
    expect(listed).toMatchObject({ ok: true, objects: [{ object_id: p.oid, version: 1 }] })
  })

  it('reads a decided version whose shards are not yet committed as SHARD_UNAVAILABLE, never as other content, until a retry commits them', async () => {
    // Seven nodes: some shard has no catalogue home among its replicas, so no copy commits at decide.
    h = await inProcessHarness(7)
    const p = findObject(h.nodeIds, 'window', (o) =>
      o.replicas.some((r) => r.every((n) => !o.homes.includes(n))),
    )
    const writer = h.nodeIds[0]!
    const stop = wrapAll(h.net.transport, 'commitVersion', async (original, node, ...rest) => {
      if (!p.homes.includes(node)) throw new NodeUnavailableError('coordinator stopped before this commit')
      return original(node, ...rest)
    })
    undo.push(stop)
    const content = bytesOf('window', 5000)
    expect((await h.engine(writer).putContent(p.oid, 1, content, meta(1))).ok).toBe(false)
    stop()
    undo.pop()
    for (const home of p.homes) expect(await recordAt(h, home, p.oid, 1)).toBeDefined()
    const reader = engineOn(h, h.nodeIds[1]!)
    expect(await reader.getContent(p.oid, 1)).toMatchObject({
      ok: false,
      code: 'SHARD_UNAVAILABLE',
      error_code: 'SE_ERR_NO_ELIGIBLE_NODES',
    })
    expectOk(await h.engine(writer).putContent(p.oid, 1, content, meta(1)))
    const got = await reader.getContent(p.oid, 1)
    expect(got.ok && same(got.content_bytes, content)).toBe(true)
  })

  it('skips a replica that serves a bad block and continues from that block on the next, in placement order', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'continue', (o) => h!.nodeIds.some((n) => !o.replicas[0]!.includes(n)))
    const content = bytesOf('continue', 12 * BLOCK)
    const put = await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, content, meta(1))
    expectOk(put)
    const shard0 = put.shard_ids[0]!
    const [r1, r2] = put.replica_sets[shard0]! as [string, string, string]
    const reader = h.nodeIds.find((n) => !p.replicas[0]!.includes(n))!
    const asked: string[] = []
    undo.push(
      wrapAll(h.net.transport, 'fetchShard', (original, node, ...rest) => {
        if (rest[0] === shard0) asked.push(`${node}@${rest[1] as number}`)
        return original(node, ...rest)
      }),
    )
    h.net.transport.tamper = (node, shard, index, block) =>
      node === r1 && shard === shard0 && index === 1 ? block.map((b) => b ^ 1) : block
    undo.push(() => {
      h!.net.transport.tamper = undefined
    })
    const got = await engineOn(h, reader).getContent(p.oid, 1)
    expect(got.ok && same(got.content_bytes, content)).toBe(true)
    // r1's first block was asked for while the record was resolved (prefetch.ts), the rest after it.
    expect(asked).toEqual([`${r1}@0`, `${r1}@1`, `${r2}@1`])
    if (got.ok) expect(got.proofs[0]!.served_by).toBe(r2)
    // Every replica serving bad bytes: the read is INTEGRITY_MISMATCH, not a shard out of reach.
    h.net.transport.tamper = (_node, shard, index, block) =>
      shard === shard0 && index === 1 ? block.map((b) => b ^ 1) : block
    expect(await engineOn(h, reader).getContent(p.oid, 1)).toMatchObject({
      ok: false,
      code: 'INTEGRITY_MISMATCH',
      error_code: 'SE_ERR_INTEGRITY_MISMATCH',
    })
  })

  it('checks the whole content against hash_commit, after every block verified', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'hash-commit', () => true)
    expectOk(await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, bytesOf('hash-commit', 600_000), meta(1)))
    // Every home answers a record whose shards are right but whose hash_commit is not.
    undo.push(
      wrapAll(h.net.transport, 'getRecord', async (original, ...args) => {
        const r = (await original(...args)) as VersionRecord | undefined
        return r?.object_id === p.oid ? { ...r, hash_commit: 'ab'.repeat(32) } : r
      }),
    )
    expect(await engineOn(h, h.nodeIds[1]!).getContent(p.oid, 1)).toMatchObject({
      ok: false,
      code: 'INTEGRITY_MISMATCH',
    })
    // Serving a public read, a node leaves that check to the client (docs/protocol.md 4.3): every
    // block still verifies against the roots, and the bytes go through.
    const served = await engineOn(h, h.nodeIds[1]!).readContent(p.oid, 1, { checkCommit: false })
    if (!served.ok) throw new Error(served.code)
    let bytes = 0
    for await (const piece of served.content) bytes += piece.length
    expect(bytes).toBe(600_000)
  })

  it('answers a proof from a record it resolved from every home while two homes are away', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'kept-proof', () => true)
    const reader = h.nodeIds.find((n) => !p.homes.includes(n))!
    const put = await h.engine(reader).putContent(p.oid, 1, bytesOf('kept-proof', 70_000), meta(1))
    expectOk(put)
    const keeping = engineOn(h, reader, { decidedRecordsKept: 16 })
    expectOk(await keeping.getContent(p.oid, 1))
    // A record is kept once every home's answer is in (read repair waits for the slower ones).
    await new Promise((r) => setTimeout(r, 50))
    const away = p.homes.slice(0, 2)
    for (const n of away) await h.setDown(n, true)
    try {
      const shard = put.shard_ids.find((id) => put.replica_sets[id]!.some((n) => !away.includes(n)))!
      expect(await keeping.getStorageProof(p.oid, 1, shard)).toMatchObject({ ok: true })
      expect(await engineOn(h, reader).getStorageProof(p.oid, 1, shard)).toMatchObject({
        ok: false,
        code: 'QUORUM_NOT_REACHED',
      })
    } finally {
      for (const n of away) await h.setDown(n, false)
    }
  })
})

describe('delete markers (docs/protocol.md 4.2)', () => {
  it('a marker may be version 1; it is placed, decided and committed like any version, and read by number answers its header', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'marker-first', () => true)
    const e = h.engine(h.nodeIds[0]!)
    const m = meta(3)
    const del = await e.deleteContent(p.oid, 1, m)
    expectOk(del)
    const ids = [0, 1, 2, 3].map((k) => shardId(p.oid, 1, k))
    const eligible = new EligibleSet(h.nodeIds)
    expect(del).toMatchObject({
      kind: 'DELETE_MARKER',
      content_size: 0,
      shard_ids: ids,
      atr_cost: '100.000000000000000000',
      hash_commit: toHex(hashCommit(new Uint8Array(0), 1, metadataSeed(normalizeMetadata(m)))),
      under_replicated: {},
    })
    for (const id of ids) expect(del.replica_sets[id]).toEqual(eligible.place(id, 3).selected)
    for (const home of p.homes) expect((await recordAt(h, home, p.oid, 1))?.kind).toBe('DELETE_MARKER')
    const reader = engineOn(h, h.nodeIds[2]!)
    expect(await reader.getContent(p.oid)).toMatchObject({ ok: false, error_code: 'SE_ERR_NOT_FOUND' })
    const got = await reader.getContent(p.oid, 1)
    expectOk(got)
    expect(got).toMatchObject({ kind: 'DELETE_MARKER', version: 1 })
    expect(got.content_bytes).toHaveLength(0)
    expect(got.proofs.map((s) => [s.shard_id, s.served_by])).toEqual(ids.map((id) => [id, null]))
    expect(await reader.listObjects({ prefix: p.oid })).toMatchObject({
      objects: [{ version: 1, kind: 'DELETE_MARKER' }],
    })
    // It takes the next version like any write.
    expectOk(await e.putContent(p.oid, 2, bytesOf('after-marker', 100), meta(4)))
    expect(await reader.getContent(p.oid)).toMatchObject({ ok: true, version: 2 })
  })
})

describe('audit entries of a commit', () => {
  it('are durable at once and signed by a checkpoint once the default checkpointDelayMs (1 s) has passed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const db = memoryDb()
    const log = new EventLog({ db, nodeId: NODE, key: TEST_KEY })
    try {
      await log.open()
      await log.append(storeFields(1))
      // In the database as soon as the append resolves; the signature comes later.
      expect(await collect(log.iterate())).toHaveLength(1)
      expect(log.head()).toMatchObject({ entries: 1, covered_entries: 0 })
      await vi.advanceTimersByTimeAsync(999)
      expect(log.head().covered_entries).toBe(0)
      await vi.advanceTimersByTimeAsync(1)
      for (let i = 0; i < 1000 && log.head().covered_entries === 0; i++)
        await new Promise((r) => setImmediate(r))
      expect(log.head().covered_entries).toBe(1)
    } finally {
      vi.useRealTimers()
      await log.close()
      await db.close()
    }
  })
})
