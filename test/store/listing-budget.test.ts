import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compareBytes, fromHex } from '../../src/core/bytes.js'
import type { IndexEntry } from '../../src/store/commit.js'
import type { StoreSublevels } from '../../src/store/db.js'
import { type ListFilters, listEntries, MAX_LIST_SCAN_ENTRIES } from '../../src/store/listing.js'
import type { ShardStore } from '../../src/store/store.js'
import { CATALOGUE_AUTHORS, CATALOGUE_TAGS, catalogueStore } from './helpers.js'

const TAGS = CATALOGUE_TAGS
const AUTHORS = CATALOGUE_AUTHORS
type Key = { object_id: string; version: number }

const keyOf = (e: Key): Key => ({ object_id: e.object_id, version: e.version })
const compareKey = (a: Key, b: Key) =>
  compareBytes(fromHex(a.object_id), fromHex(b.object_id)) || a.version - b.version

/** Independent oracle: one entry, filtered field by field (tags compared in lower case). */
function passes(e: IndexEntry, f: ListFilters): boolean {
  if (f.prefix !== undefined && !e.object_id.startsWith(f.prefix)) return false
  if (f.tag !== undefined && !e.metadata.tags.includes(f.tag.toLowerCase())) return false
  if (f.author !== undefined && e.metadata.author_node_id !== f.author) return false
  if (f.tick_from !== undefined && e.metadata.created_at_tick < f.tick_from) return false
  if (f.tick_to !== undefined && e.metadata.created_at_tick > f.tick_to) return false
  if (f.home_only === true && !e.home) return false
  return true
}

/** The index's sublevels with a counter of the entries a listing reads from it. */
function counting(subs: StoreSublevels): { subs: StoreSublevels; read: () => number } {
  let read = 0
  const index = {
    values(options: object) {
      const inner = subs.index.values(options)
      return {
        async *[Symbol.asyncIterator]() {
          for await (const v of inner) {
            read++
            yield v
          }
        },
      }
    },
  }
  return { subs: { ...subs, index } as unknown as StoreSublevels, read: () => read }
}

describe('listing scan budget (store)', () => {
  let store: ShardStore
  let all: IndexEntry[]
  let close: () => Promise<void>

  beforeAll(async () => {
    ;({ store, all, close } = await catalogueStore({
      name: 'budget',
      objects: 40,
      contentBytes: 16,
      tagEvery: 3,
    }))
  })
  afterAll(async () => close())

  it('stops a filter that matches nothing after the budget, with the last examined entry as cursor', async () => {
    expect(all).toHaveLength(79)
    const budget = 7
    const page = await store.listRecords({ tag: 'nobody', scan_budget: budget })
    // Short (no match at all), not the end: the cursor is the 7th entry, the one the scan stopped at.
    expect(page.budget_spent).toBe(true)
    expect(page.next).toEqual(keyOf(all[budget - 1]!))
    expect(page.entries.map(keyOf)).toEqual([keyOf(all[budget - 1]!)])
    // Following the cursor walks the whole index in budget-sized steps and only then claims the end.
    let cursor: Key | null = page.next
    let pages = 1
    while (cursor !== null) {
      const next = await store.listRecords({ tag: 'nobody', scan_budget: budget, after: cursor })
      pages++
      if (next.next === null) expect(next).toMatchObject({ entries: [], budget_spent: false })
      cursor = next.next
    }
    expect(pages).toBe(Math.ceil(all.length / budget) + (all.length % budget === 0 ? 1 : 0))
  })

  it('visits every match exactly once by following cursors, whatever the budget and page (property)', async () => {
    const ids = [...new Set(all.map((e) => e.object_id))]
    const filters = fc.record(
      {
        prefix: fc.constantFrom(...ids).chain((id) => fc.nat({ max: 2 }).map((n) => id.slice(0, n))),
        tag: fc.constantFrom(...TAGS, 'Beta', 'nobody'),
        author: fc.constantFrom(...AUTHORS, 'nobody'),
        tick_from: fc.nat({ max: 50 }),
        tick_to: fc.nat({ max: 50 }),
        home_only: fc.boolean(),
      },
      { requiredKeys: [] },
    )
    await fc.assert(
      fc.asyncProperty(
        filters,
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 5 }),
        async (f, budget, limit) => {
          const expected = all.filter((e) => passes(e, f)).map(keyOf)
          const got: Key[] = []
          let cursor: Key | undefined
          for (let pages = 0; pages <= all.length; pages++) {
            const counter = counting(store.sublevels)
            const page = await listEntries(counter.subs, { ...f, after: cursor, limit, scan_budget: budget })
            expect(page.entries.length).toBeLessThanOrEqual(limit)
            // The bound: the budget, then matches until the next non-match (or the page is full).
            expect(counter.read()).toBeLessThanOrEqual(budget + limit)
            const matches = page.budget_spent ? page.entries.slice(0, -1) : page.entries
            expect(matches.every((e) => passes(e, f))).toBe(true)
            if (page.budget_spent) {
              const stop = page.entries[page.entries.length - 1]!
              expect(passes(stop, f)).toBe(false)
              expect(page.next).toEqual(keyOf(stop))
            }
            got.push(...matches.map(keyOf))
            if (page.next === null) break
            if (cursor !== undefined) expect(compareKey(page.next, cursor)).toBeGreaterThan(0)
            cursor = page.next
          }
          expect(got).toEqual(expected)
        },
      ),
      { seed: 20260311, numRuns: 120 },
    )
  })

  it('caps a larger budget at MAX_LIST_SCAN_ENTRIES and refuses a malformed one', async () => {
    // An index longer than the cap (one stored entry, read over and over): asking for more than the
    // cap, or for nothing, examines exactly MAX_LIST_SCAN_ENTRIES entries.
    const [value] = await store.sublevels.index.values({ limit: 1 }).all()
    for (const scan_budget of [undefined, MAX_LIST_SCAN_ENTRIES * 10]) {
      let read = 0
      const endless = {
        index: {
          async *values() {
            for (let i = 0; i < MAX_LIST_SCAN_ENTRIES + 50; i++) {
              read++
              yield value
            }
          },
        },
      } as unknown as StoreSublevels
      const page = await listEntries(endless, { tag: 'nobody', scan_budget })
      expect(page.budget_spent).toBe(true)
      expect(read).toBe(MAX_LIST_SCAN_ENTRIES)
    }
    for (const scan_budget of [0, -1, 1.5, '3', {}]) {
      await expect(store.listRecords({ scan_budget })).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    }
  })
})
