import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compareBytes, fromHex } from '../../src/core/bytes.js'
import type { IndexEntry } from '../../src/store/commit.js'
import type { RootDb } from '../../src/store/db.js'
import type { ListFilters } from '../../src/store/listing.js'
import { ShardStore } from '../../src/store/store.js'
import { CATALOGUE_AUTHORS, CATALOGUE_TAGS, memoryBackend, seedCatalogue, TEST_PARAMS } from './helpers.js'

const TAGS = CATALOGUE_TAGS
const AUTHORS = CATALOGUE_AUTHORS

/** Brute force: every entry, filtered one by one, sorted by (object_id bytes, version). */
function oracle(all: readonly IndexEntry[], f: ListFilters): IndexEntry[] {
  const sorted = [...all].sort(
    (a, b) => compareBytes(fromHex(a.object_id), fromHex(b.object_id)) || a.version - b.version,
  )
  return sorted.filter((e) => {
    if (f.after !== undefined) {
      const c = compareBytes(fromHex(e.object_id), fromHex(f.after.object_id))
      if (c < 0 || (c === 0 && e.version <= f.after.version)) return false
    }
    if (f.prefix !== undefined && !e.object_id.startsWith(f.prefix)) return false
    if (f.tag !== undefined && !e.metadata.tags.includes(f.tag)) return false
    if (f.author !== undefined && e.metadata.author_node_id !== f.author) return false
    if (f.tick_from !== undefined && e.metadata.created_at_tick < f.tick_from) return false
    if (f.tick_to !== undefined && e.metadata.created_at_tick > f.tick_to) return false
    if (f.home_only === true && !e.home) return false
    return true
  })
}

describe('listRecords', () => {
  let db: RootDb
  let cleanup: () => Promise<void>
  let store: ShardStore
  const all: IndexEntry[] = []

  beforeAll(async () => {
    ;({ db, cleanup } = await memoryBackend.open())
    store = new ShardStore({ db }, { params: TEST_PARAMS })
    await store.open()
    await seedCatalogue(store, { name: 'list', objects: 24, contentBytes: 20, tagEvery: 2 })
    for await (const [key] of store.sublevels.index.iterator()) expect(key.length).toBe(40)
    all.push(...(await store.listRecords({ limit: 1000 })).entries)
  })
  afterAll(async () => {
    await store.close()
    await cleanup()
  })

  it('holds every entry in (object_id, version) order', () => {
    expect(all).toHaveLength(48)
    expect(all).toEqual(oracle(all, {}))
  })

  it('matches a brute-force filter for any filters, page by page', async () => {
    const ids = [...new Set(all.map((e) => e.object_id))]
    const filters = fc.record(
      {
        prefix: fc.oneof(
          fc.constantFrom(...ids).chain((id) => fc.nat({ max: 3 }).map((n) => id.slice(0, n))),
          fc.stringMatching(/^[0-9a-f]{0,2}$/),
        ),
        tag: fc.constantFrom(...TAGS, 'Alpha', 'delta'),
        author: fc.constantFrom(...AUTHORS),
        tick_from: fc.nat({ max: 50 }),
        tick_to: fc.nat({ max: 50 }),
        home_only: fc.boolean(),
        after: fc.oneof(
          fc.constantFrom(...all).map((e) => ({ object_id: e.object_id, version: e.version })),
          fc.record({ object_id: fc.stringMatching(/^[0-9a-f]{64}$/), version: fc.nat({ max: 4 }) }),
        ),
      },
      { requiredKeys: [] },
    )
    await fc.assert(
      fc.asyncProperty(filters, fc.integer({ min: 1, max: 7 }), async (f, limit) => {
        const expected = oracle(all, { ...f, tag: f.tag?.toLowerCase() })
        const got: IndexEntry[] = []
        let cursor = f.after
        for (let pages = 0; pages < 60; pages++) {
          const page = await store.listRecords({ ...f, after: cursor, limit })
          expect(page.entries.length).toBeLessThanOrEqual(limit)
          // A page short of its limit that no budget stopped has exhausted the range: no cursor.
          if (page.entries.length < limit && !page.budget_spent && !page.bytes_spent)
            expect(page.next).toBeNull()
          got.push(...page.entries)
          if (page.next === null) break
          cursor = page.next
        }
        expect(got).toEqual(expected)
      }),
      { seed: 20240517, numRuns: 150 },
    )
  })

  it('rejects malformed filters with INVALID_INPUT', async () => {
    const bad: unknown[] = [
      { limit: 0 },
      { limit: 1001 },
      { limit: 2.5 },
      { prefix: 'ABC' },
      { prefix: 'a'.repeat(65) },
      { after: { object_id: 'xyz', version: 1 } },
      { after: { object_id: 'ab'.repeat(32), version: -1 } },
      { tag: 5 },
      { tick_from: -1 },
      { home_only: 'yes' },
      { colour: 'blue' },
      'everything',
    ]
    for (const f of bad) await expect(store.listRecords(f)).rejects.toMatchObject({ code: 'INVALID_INPUT' })
  })

  it('defaults to 100 entries a page', async () => {
    const page = await store.listRecords({ limit: 10 })
    expect(page.next).toEqual({ object_id: page.entries[9]!.object_id, version: page.entries[9]!.version })
    expect((await store.listRecords()).entries).toHaveLength(48)
  })
})
