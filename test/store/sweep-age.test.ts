import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { blockKey } from '../../src/store/db.js'
import type { ShardWriter } from '../../src/store/staging.js'
import { ShardStore } from '../../src/store/store.js'
import { buildVersion, memoryBackend, pseudoBytes, TEST_PARAMS, testObjectId } from './helpers.js'

/**
 * The staging sweep's age rule against a model: a finished staged shard goes once it is at least
 * `olderThanMs` old, an open stream once it has been idle at least that long, and `staleStaged`
 * names exactly the finished ones at least that old (docs/operations.md "Staged data"). Ages are
 * drawn around the threshold, so the boundary (exactly `olderThanMs`) is always in play.
 */

const T = 100

interface Item {
  kind: 'stream' | 'staged'
  age: number
}

const item: fc.Arbitrary<Item> = fc.record({
  kind: fc.constantFrom('stream' as const, 'staged' as const),
  age: fc.constantFrom(0, T - 1, T, T + 1, 3 * T),
})

describe('staging sweep by age', () => {
  it('removes exactly the staged shards and streams at least olderThanMs old or idle (property)', async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(fc.array(item, { minLength: 1, maxLength: 8 }), async (items) => {
        run++
        const { db, cleanup } = await memoryBackend.open()
        const base = 1_000_000
        let clock = base
        const store = new ShardStore({ db }, { params: TEST_PARAMS, now: () => clock })
        await store.open()
        try {
          const made: Array<Item & { stagingId: string; writer?: ShardWriter }> = []
          for (const [i, it] of items.entries()) {
            const shard = buildVersion({
              objectId: testObjectId(`sweep-${run}-${i}`),
              version: 1,
              content: pseudoBytes(i + 1, 2000),
            }).shards[0]!
            // Started long ago; its last byte (or its finish) `age` before the sweep.
            clock = base - 10 * T
            const writer = await store.beginShard(shard.header)
            await writer.write(shard.bytes.subarray(0, 100))
            clock = base - it.age
            if (it.kind === 'stream') {
              await writer.write(shard.bytes.subarray(100, 200))
              made.push({ ...it, stagingId: writer.stagingId, writer })
            } else {
              await writer.write(shard.bytes.subarray(100))
              made.push({ ...it, stagingId: (await writer.finish()).stagingId })
            }
          }
          clock = base
          const old = (x: Item) => x.age >= T
          const stale = (await store.staleStaged(T)).map((r) => r.stagingId).sort()
          expect(stale).toEqual(
            made
              .filter((x) => x.kind === 'staged' && old(x))
              .map((x) => x.stagingId)
              .sort(),
          )
          expect(await store.sweepStaging({ olderThanMs: T })).toEqual({ removed: made.filter(old).length })
          const left = (await store.sublevels.staging.keys().all()).map((k) => toHex(k)).sort()
          expect(left).toEqual(
            made
              .filter((x) => !old(x))
              .map((x) => x.stagingId)
              .sort(),
          )
          for (const x of made) {
            if (x.writer === undefined) continue
            const write = x.writer.write(new Uint8Array(1))
            if (old(x)) await expect(write).rejects.toMatchObject({ code: 'INVALID_INPUT' })
            else await write
          }
          for (const x of made) await x.writer?.abort()
          expect(await store.stats()).toEqual(await store.recomputeStats())
        } finally {
          await store.close()
          await cleanup()
        }
      }),
      { seed: 7, numRuns: 60 },
    )
  })

  it('keeps staged shards younger than 15 minutes when no age is given', async () => {
    // The default is docs/operations.md's limits.staging_max_age_ms: 15 minutes to commit.
    const { db, cleanup } = await memoryBackend.open()
    let clock = 0
    const store = new ShardStore({ db }, { params: TEST_PARAMS, now: () => clock })
    await store.open()
    try {
      const built = buildVersion({
        objectId: testObjectId('sweep-default'),
        version: 1,
        content: pseudoBytes(1, 400),
      })
      await store.stageWhole(built.shards)
      clock = 15 * 60 * 1000 - 1
      expect(await store.sweepStaging()).toEqual({ removed: 0 })
      clock++
      expect(await store.sweepStaging()).toEqual({ removed: built.shards.length })
    } finally {
      await store.close()
      await cleanup()
    }
  })
})

describe('staging left behind', () => {
  it('open() removes a finished staged shard whose blocks are not all there, and a stream cut off before its first block', async () => {
    // A removal cut off between its blocks and its marker leaves a finished marker with missing
    // blocks; a crash right after a stream's header leaves an unfinished marker with none. Kept,
    // the first could commit a shard that cannot be read back.
    const { db, cleanup } = await memoryBackend.open()
    const store = new ShardStore({ db }, { params: TEST_PARAMS })
    await store.open()
    const built = buildVersion({
      objectId: testObjectId('left-behind'),
      version: 1,
      content: pseudoBytes(3, 12_000),
    })
    const [whole, cut, kept] = await store.stageWhole(built.shards.slice(0, 3))
    const [firstKey] = await store.sublevels.blocks.keys({ gte: blockKey(cut!.stagingId, 0), limit: 1 }).all()
    await store.sublevels.blocks.del(firstKey!)
    await store.beginShard(built.shards[3]!.header)
    await store.close()
    const restarted = new ShardStore({ db }, { params: TEST_PARAMS })
    try {
      expect(await restarted.open()).toEqual({ removed: 2 })
      const left = (await restarted.sublevels.staging.keys().all()).map((k) => toHex(k)).sort()
      expect(left).toEqual([whole!.stagingId, kept!.stagingId].sort())
      expect(await restarted.stats()).toEqual(await restarted.recomputeStats())
    } finally {
      await restarted.close()
      await cleanup()
    }
  })

  it('removes by age an unfinished marker no stream writes, also when told which finished ones to remove', async () => {
    // An abort whose removal failed leaves its marker unfinished and its writer gone: "unfinished
    // markers still go by age" (SweepOptions.removeStaged).
    const { db, cleanup } = await memoryBackend.open()
    let clock = 0
    const store = new ShardStore({ db }, { params: TEST_PARAMS, now: () => clock })
    await store.open()
    try {
      const shard = buildVersion({
        objectId: testObjectId('orphan'),
        version: 1,
        content: pseudoBytes(6, 4000),
      }).shards[0]!
      const writer = await store.beginShard(shard.header)
      await writer.write(shard.bytes.subarray(0, 100))
      const batch = db.batch.bind(db)
      ;(db as { batch: unknown }).batch = () => Promise.reject(new Error('IO error: refused'))
      await expect(writer.abort()).rejects.toThrow('refused')
      ;(db as { batch: unknown }).batch = batch
      expect(await store.sublevels.staging.keys().all()).toHaveLength(1)
      clock = T - 1
      expect(await store.sweepStaging({ olderThanMs: T, removeStaged: new Set() })).toEqual({ removed: 0 })
      clock = T
      expect(await store.sweepStaging({ olderThanMs: T, removeStaged: new Set() })).toEqual({ removed: 1 })
      expect(await store.sublevels.staging.keys().all()).toEqual([])
    } finally {
      await store.close()
      await cleanup()
    }
  })

  it('refuses a negative age with INVALID_INPUT', async () => {
    const { db, cleanup } = await memoryBackend.open()
    const store = new ShardStore({ db }, { params: TEST_PARAMS })
    await store.open()
    try {
      await expect(store.sweepStaging({ olderThanMs: -1 })).rejects.toMatchObject({ code: 'INVALID_INPUT' })
      await expect(store.staleStaged(-1)).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    } finally {
      await store.close()
      await cleanup()
    }
  })
})
