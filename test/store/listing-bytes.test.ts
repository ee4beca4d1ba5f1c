import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { IndexEntry } from '../../src/store/commit.js'
import type { StoreSublevels } from '../../src/store/db.js'
import { listEntries, MAX_LIST_ANSWER_BYTES } from '../../src/store/listing.js'
import type { ShardStore } from '../../src/store/store.js'
import { catalogueStore } from './helpers.js'

type Key = { object_id: string; version: number }
const keyOf = (e: Key): Key => ({ object_id: e.object_id, version: e.version })

/**
 * Independent oracle of a record's wire size: JSON.stringify orders keys differently from RFC 8785
 * but spells the same characters, so its UTF-8 length is the canonical frame body's.
 */
const sizeOf = (e: IndexEntry) => Buffer.byteLength(JSON.stringify(e.record), 'utf8')
const sum = (entries: IndexEntry[]) => entries.reduce((n, e) => n + sizeOf(e), 0)

describe('listing answer bytes (store)', () => {
  let store: ShardStore
  let all: IndexEntry[]
  let close: () => Promise<void>

  beforeAll(async () => {
    ;({ store, all, close } = await catalogueStore({
      name: 'bytes',
      objects: 30,
      contentBytes: 16,
      tagEvery: 3,
    }))
  })
  afterAll(async () => close())

  it('stops after the record that reaches max_bytes, and following cursors visits each entry once (property)', async () => {
    const sizes = all.map(sizeOf)
    const largest = Math.max(...sizes)
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 * largest }),
        fc.integer({ min: 1, max: 7 }),
        async (maxBytes, limit) => {
          const got: Key[] = []
          let cursor: Key | undefined
          for (let pages = 0; pages <= all.length; pages++) {
            const page = await store.listRecords({ after: cursor, limit, max_bytes: maxBytes })
            // Every page moves on; only the one past the last entry is empty (and the end).
            if (page.entries.length === 0) expect(page.next).toBeNull()
            expect(page.entries.length).toBeLessThanOrEqual(limit)
            // Below the bound before the last record: the stop comes at the first record that reaches it.
            expect(sum(page.entries.slice(0, -1))).toBeLessThan(maxBytes)
            if (page.bytes_spent) {
              expect(sum(page.entries)).toBeGreaterThanOrEqual(maxBytes)
              expect(page.entries.length).toBeLessThan(limit)
              expect(page.next).toEqual(keyOf(page.entries[page.entries.length - 1]!))
            } else if (page.entries.length < limit) {
              expect(sum(page.entries)).toBeLessThan(maxBytes)
            }
            got.push(...page.entries.map(keyOf))
            if (page.next === null) break
            cursor = page.next
          }
          expect(got).toEqual(all.map(keyOf))
        },
      ),
      { seed: 20261127, numRuns: 60 },
    )
  })

  it('stops at the record whose size reaches max_bytes exactly', async () => {
    // "Reaches" includes equality: a bound that the first k records fill to the byte ends the page
    // after those k.
    for (let k = 1; k <= 6; k++) {
      const page = await store.listRecords({ limit: 1000, max_bytes: sum(all.slice(0, k)) })
      expect(page.entries.map(keyOf)).toEqual(all.slice(0, k).map(keyOf))
      expect(page.bytes_spent).toBe(true)
    }
  })

  it('caps a larger max_bytes at MAX_LIST_ANSWER_BYTES and refuses a malformed one', async () => {
    // Records of about 10 KB, over and over: a page of 1000 would be some 10 MB.
    const padded = { home: true, record: { ...all[0]!.record, pad: 'x'.repeat(10_000) } }
    const size = Buffer.byteLength(JSON.stringify(padded.record), 'utf8')
    const endless = {
      index: {
        async *values() {
          for (let i = 0; i < 2000; i++) yield padded
        },
      },
    } as unknown as StoreSublevels
    for (const max_bytes of [undefined, MAX_LIST_ANSWER_BYTES, 2 ** 40]) {
      const page = await listEntries(endless, { limit: 1000, max_bytes })
      expect(page.bytes_spent).toBe(true)
      expect(page.entries).toHaveLength(Math.ceil(MAX_LIST_ANSWER_BYTES / size))
    }
    for (const max_bytes of [0, -1, 1.5, '3', {}]) {
      await expect(store.listRecords({ max_bytes })).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    }
  })
})
