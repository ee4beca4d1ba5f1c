import { describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { recordWireBytes, type VersionRecord } from '../../src/core/record.js'
import type { NodeListFilters } from '../../src/engine/list.js'
import { listVersions, MAX_LIST_ANSWER_BYTES } from '../../src/engine/list.js'
import { forgeRecord } from './forged-record.js'
import { nodesAnswering } from './list-nodes.js'

/**
 * What a coordinator takes from the nodes' answers to a listing (list.ts `listVersions`): a version is
 * listed only when a majority of its homes report the same record in the listing's range, whatever
 * any node sends; and a page says it is the last only when no node may hold more.
 */

const NODES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6']

/** A record of `label`'s object placed on `homes` (the placement itself is not checked here). */
function record(label: string, version: number, homes: string[], extra: Partial<VersionRecord> = {}) {
  const oid = objectId('list-votes', label)
  const { record } = forgeRecord({
    oid,
    version,
    content: new Uint8Array(10),
    replicas: [homes, homes, homes, homes],
    homes,
    tick: version,
  })
  return { ...record, ...extra }
}

const keys = (page: { objects: Array<{ object_id: string; version: number }> }) =>
  page.objects.map((o) => `${o.object_id.slice(0, 8)}/${o.version}`)
const key = (r: VersionRecord) => `${r.object_id.slice(0, 8)}/${r.version}`

describe('a listing’s votes', () => {
  it('count only nodes that are homes of the record: non-homes reporting a minority record do not list it', async () => {
    const r = record('non-home-votes', 1, ['n1', 'n2', 'n3'])
    // One home holds it (a minority); three nodes that are no homes of it report it too.
    const ctx = nodesAnswering((n) => (['n1', 'n4', 'n5', 'n6'].includes(n) ? [r] : []))
    const page = await listVersions(ctx, NODES, {})
    expect(page.objects).toEqual([])
  })

  it('count each record apart: two records of one version, each at a minority of homes, list neither', async () => {
    const homes = ['n1', 'n2', 'n3']
    const a = record('split', 1, homes)
    const b = { ...a, timestamp_tick: 2, metadata: { ...a.metadata, created_at_tick: 2 } }
    const ctx = nodesAnswering((n) => (n === 'n1' ? [a] : n === 'n2' ? [b] : []))
    const page = await listVersions(ctx, NODES, {})
    expect(page.objects).toEqual([])
    // The same record at two homes is listed.
    const agreed = await listVersions(
      nodesAnswering((n) => (n === 'n1' || n === 'n2' ? [a] : [])),
      NODES,
      {},
    )
    expect(keys(agreed)).toEqual([key(a)])
  })

  it('count only records in the listing’s range (in the prefix, past the cursor), whatever the homes send', async () => {
    const homes = ['n1', 'n2', 'n3']
    const inside = record('in-range', 1, homes)
    const outside = record('out-of-range', 1, homes)
    const prefix = inside.object_id.slice(0, 4)
    expect(outside.object_id.startsWith(prefix)).toBe(false)
    // Every home ignores the prefix and sends both.
    const sorted = [inside, outside].sort((x, y) => (x.object_id < y.object_id ? -1 : 1))
    const page = await listVersions(
      nodesAnswering((n) => (homes.includes(n) ? sorted : [])),
      NODES,
      { prefix },
    )
    expect(keys(page)).toEqual([key(inside)])
    // Every home sends the cursor's own version again: it is not listed twice.
    const after = { object_id: sorted[0]!.object_id, version: 1 }
    const next = await listVersions(
      nodesAnswering((n) => (homes.includes(n) ? sorted : [])),
      NODES,
      { after },
    )
    expect(keys(next)).toEqual([key(sorted[1]!)])
  })
})

describe('a page', () => {
  it('holds at most `limit` versions and resumes after the last it holds', async () => {
    const [a, b, c] = ['limit-a', 'limit-b', 'limit-c']
      .map((label) => objectId('list-votes', label))
      .sort()
      .map((oid, i) => {
        const homes = i === 1 ? ['n4', 'n5', 'n6'] : ['n1', 'n2', 'n3']
        return { ...record('limit', 1, homes), object_id: oid }
      })
    // n1..n3 hold a and c (a full page of 2), n4..n6 hold b: three decided versions up to c.
    const ctx = nodesAnswering((n, f) =>
      [a!, b!, c!].filter(
        (r) => r.catalogue_homes.includes(n) && (f.after === undefined || r.object_id > f.after.object_id),
      ),
    )
    const page = await listVersions(ctx, NODES, { limit: 2 })
    expect(keys(page)).toEqual([key(a!), key(b!)])
    expect(page.next_cursor).toEqual({ object_id: b!.object_id, version: 1 })
    const next = await listVersions(ctx, NODES, { limit: 2, after: page.next_cursor! })
    expect(keys(next)).toEqual([key(c!)])
  })

  it('asks each node for its share of the page’s bytes, and for the scan budget when not the default', async () => {
    const asked = new Map<string, NodeListFilters>()
    const ctx = nodesAnswering((n, f) => {
      asked.set(n, f)
      return []
    })
    await listVersions(ctx, NODES, { tag: 't' }, { pageBytes: 6_000, scanBudget: 7 })
    for (const n of NODES) expect(asked.get(n)).toMatchObject({ tag: 't', max_bytes: 1_000, scan_budget: 7 })
  })
})

describe('a node that answers out of range', () => {
  it('neither ends the page nor moves its cursor back', async () => {
    const homes = ['n1', 'n2', 'n3']
    const [early, after, listed] = ['range-a', 'range-b', 'range-c']
      .map((label) => record(label, 1, homes))
      .sort((x, y) => (x.object_id < y.object_id ? -1 : 1))
    // The homes answer what lies past the cursor; n6 answers a version before it.
    const ctx = nodesAnswering((n) => (homes.includes(n) ? [listed!] : n === 'n6' ? [early!] : []))
    const cursor = { object_id: after!.object_id, version: 1 }
    const page = await listVersions(ctx, NODES, { after: cursor })
    expect(keys(page)).toEqual([key(listed!)])
    expect(page.next_cursor).toBeNull()
  })
})

describe('the end of a listing', () => {
  it('is said (no next_cursor) when a page holds exactly `limit` versions and no node may hold more', async () => {
    // Two objects whose homes share no node: every node answers fewer than `limit` records.
    const a = record('end-a', 1, ['n1', 'n2', 'n3'])
    const b = record('end-b', 1, ['n4', 'n5', 'n6'])
    const ctx = nodesAnswering((n) => [a, b].filter((r) => r.catalogue_homes.includes(n)))
    const page = await listVersions(ctx, NODES, { limit: 2 })
    expect(page.objects).toHaveLength(2)
    expect(page.next_cursor).toBeNull()
  })

  it('is not claimed while the nodes’ pages are full: the versions past them come on the next page', async () => {
    const homes = ['n1', 'n2', 'n3']
    const all = ['full-a', 'full-b', 'full-c']
      .map((label) => record(label, 1, homes))
      .sort((x, y) => (x.object_id < y.object_id ? -1 : 1))
    // Each home answers what it holds past the cursor, at most `limit` records, as a node does.
    const ctx = nodesAnswering((n, f) =>
      homes.includes(n)
        ? all.filter((r) => f.after === undefined || r.object_id > f.after.object_id).slice(0, f.limit)
        : [],
    )
    const first = await listVersions(ctx, NODES, { limit: 2 })
    expect(keys(first)).toEqual(all.slice(0, 2).map(key))
    expect(first.next_cursor).not.toBeNull()
    const second = await listVersions(ctx, NODES, { limit: 2, after: first.next_cursor! })
    expect(keys(second)).toEqual([key(all[2]!)])
  })

  it('is not claimed while a node stopped early on an entry that does not match', async () => {
    const homes = ['n1', 'n2', 'n3']
    const [first, stop, last] = ['stop-a', 'stop-b', 'stop-c']
      .map((label) => record(label, 1, homes))
      .sort((x, y) => (x.object_id < y.object_id ? -1 : 1))
      .map((r, i) => ({ ...r, metadata: { ...r.metadata, tags: i === 1 ? [] : ['t'] } }))
    // Out of scan budget, each home ends its answer with the entry it stopped at, which does not
    // match; past it, the next page finds the last version.
    const ctx = nodesAnswering((n, f) =>
      homes.includes(n) ? (f.after === undefined ? [first!, stop!] : [last!]) : [],
    )
    const page = await listVersions(ctx, NODES, { tag: 't', limit: 10 })
    expect(keys(page)).toEqual([key(first!)])
    expect(page.next_cursor).toEqual({ object_id: stop!.object_id, version: 1 })
    const next = await listVersions(ctx, NODES, { tag: 't', limit: 10, after: page.next_cursor! })
    expect(keys(next)).toEqual([key(last!)])
  })

  it('is not claimed while a node’s answer came to exactly its share of the page’s bytes', async () => {
    const homes = ['n1', 'n2', 'n3']
    const [first, second] = ['share-a', 'share-b']
      .map((label) => record(label, 1, homes))
      .sort((x, y) => (x.object_id < y.object_id ? -1 : 1))
    // Each home's share is exactly the first record's size: it stops after it (list-answer-bytes).
    const ctx = nodesAnswering((n, f) =>
      homes.includes(n) ? (f.after === undefined ? [first!] : [second!]) : [],
    )
    const pageBytes = NODES.length * recordWireBytes(first!)
    const page = await listVersions(ctx, NODES, { limit: 10 }, { pageBytes })
    expect(keys(page)).toEqual([key(first!)])
    expect(page.next_cursor).toEqual({ object_id: first!.object_id, version: 1 })
  })

  it('is not claimed while a node stopped at its own answer bound, however large the page’s bytes', async () => {
    // Records of about 100 kB: a node stops after the one that reaches MAX_LIST_ANSWER_BYTES.
    const homes = ['n1', 'n2', 'n3']
    const big = 'x'.repeat(100_000)
    const all = Array.from({ length: 60 }, (_, i) => {
      const r = record(`big-${i}`, 1, homes)
      return { ...r, metadata: { ...r.metadata, tags: [big] } }
    }).sort((x, y) => (x.object_id < y.object_id ? -1 : 1))
    const answer = (n: string) => {
      if (!homes.includes(n)) return []
      const out: VersionRecord[] = []
      let bytes = 0
      for (const r of all) {
        out.push(r)
        bytes += JSON.stringify(r).length
        if (bytes >= MAX_LIST_ANSWER_BYTES) break
      }
      return out
    }
    // A page of 1000 versions and bytes far above what the three homes may answer together.
    const page = await listVersions(
      nodesAnswering(answer),
      NODES,
      { limit: 1000 },
      {
        pageBytes: 100 * MAX_LIST_ANSWER_BYTES,
      },
    )
    expect(page.objects.length).toBeGreaterThan(0)
    expect(page.objects.length).toBeLessThan(all.length)
    expect(page.next_cursor).not.toBeNull()
  })
})
