import fc from 'fast-check'
import { MemoryLevel } from 'memory-level'
import { describe, expect, it } from 'vitest'
import { recordDigest } from '../../src/core/record.js'
import type { RootDb } from '../../src/store/db.js'
import { ShardStore } from '../../src/store/store.js'
import { buildVersion, commitLocked, TEST_PARAMS, testObjectId } from './helpers.js'

/**
 * A commit reads the object index from the object's highest version down, in one pass where it can
 * (a new version above every kept one). Checked against a model of the rules in docs/consistency.md:
 * one record per version (VERSION_CONFLICT), homes take versions in order (INVALID_VERSION: the
 * next after the highest home version), a holder's entry may become a home's, and the object and
 * version counts. Versions arrive in any order, as homes or as holders, with one of three records each.
 */

interface Attempt {
  object: number
  version: number
  home: boolean
  /**
   * Which of three records of that version: 0 and 1 differ in their metadata's tick (so in
   * hash_commit too); 2 is 0 with another epoch, the same hash_commit in another record.
   */
  variant: number
}

const attempt: fc.Arbitrary<Attempt> = fc.record({
  object: fc.integer({ min: 0, max: 1 }),
  version: fc.integer({ min: 1, max: 5 }),
  home: fc.boolean(),
  variant: fc.integer({ min: 0, max: 2 }),
})

type Outcome = 'created' | 'home_added' | 'unchanged' | 'VERSION_CONFLICT' | 'INVALID_VERSION'

describe('commit against the object index', () => {
  it('follows the model for versions in any order, as homes and holders', async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(fc.array(attempt, { minLength: 1, maxLength: 16 }), async (attempts) => {
        run++
        const memory = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
        await memory.open()
        const store = new ShardStore({ db: memory as unknown as RootDb }, { params: TEST_PARAMS })
        await store.open()
        // The model: per object, version -> what the index keeps.
        const model = [new Map<number, { home: boolean; digest: string }>(), new Map()]
        try {
          for (const a of attempts) {
            const built = buildVersion({
              objectId: testObjectId(`index-${run}-${a.object}`),
              version: a.version,
              content: new Uint8Array(0),
              tick: a.version * 10 + (a.variant === 1 ? 1 : 0),
            })
            // Idempotence is on the whole record (docs/consistency.md): the same content and
            // metadata under another epoch is another record, and conflicts as any other would.
            const record = a.variant === 2 ? { ...built.record, epoch: built.record.epoch + 1 } : built.record
            const digest = recordDigest(record)
            const kept = model[a.object]!
            const existing = kept.get(a.version)
            const latestHome = Math.max(0, ...[...kept].filter(([, e]) => e.home).map(([v]) => v))
            let expected: Outcome
            if (existing !== undefined && existing.digest !== digest) expected = 'VERSION_CONFLICT'
            else if (a.home && existing?.home !== true && a.version !== latestHome + 1)
              expected = 'INVALID_VERSION'
            else if (existing === undefined) expected = 'created'
            else expected = a.home && !existing.home ? 'home_added' : 'unchanged'

            const got: Outcome = await commitLocked(store, record, { home: a.home, shards: [] }).then(
              (p) => p.summary.index,
              (err: { code?: string }) => err.code as Outcome,
            )
            expect(got).toBe(expected)
            if (expected === 'created') kept.set(a.version, { home: a.home, digest })
            if (expected === 'home_added') kept.set(a.version, { home: true, digest })
          }
          const stats = await store.stats()
          expect(stats.objects).toBe(model.filter((m) => m.size > 0).length)
          expect(stats.versions).toBe(model.reduce((n, m) => n + m.size, 0))
          expect(stats).toEqual(await store.recomputeStats())
        } finally {
          await store.close()
          await memory.close()
        }
      }),
      { seed: 4242, numRuns: 150 },
    )
  })
})
