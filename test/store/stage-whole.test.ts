import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { equalBytes, toHex } from '../../src/core/bytes.js'
import type { RootDb } from '../../src/store/db.js'
import { ShardStore } from '../../src/store/store.js'
import { oracleLeafHash, oracleRoot } from '../helpers/rfc9162.js'
import {
  buildVersion,
  classicBackend,
  collect,
  commitLocked,
  pseudoBytes,
  TEST_PARAMS,
  testObjectId,
} from './helpers.js'

async function count(sub: { keys(): AsyncIterable<unknown> }): Promise<number> {
  let n = 0
  for await (const _ of sub.keys()) n++
  return n
}

describe('ShardStore.stageWhole (LevelDB)', () => {
  let db: RootDb
  let cleanup: () => Promise<void>
  let store: ShardStore

  beforeAll(async () => {
    ;({ db, cleanup } = await classicBackend.open())
    store = new ShardStore({ db }, { params: TEST_PARAMS })
    await store.open()
  })
  afterAll(async () => {
    await store.close()
    await cleanup()
  })

  it('stages every shard of a version at once with the oracle roots; the version then commits and reads back', async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 9000 }), async (length) => {
        run++
        const content = pseudoBytes(run, length)
        const built = buildVersion({ objectId: testObjectId(`whole-${run}`), version: 1, content })
        const staged = await store.stageWhole(built.shards.map((s) => ({ header: s.header, bytes: s.bytes })))
        expect(staged).toHaveLength(built.shards.length)
        for (const [i, s] of built.shards.entries()) {
          const blocks: Uint8Array[] = []
          for (let off = 0; off < s.bytes.length; off += 1024) blocks.push(s.bytes.subarray(off, off + 1024))
          expect(staged[i]).toMatchObject({
            shardId: s.header.shardId,
            length: s.bytes.length,
            leafCount: blocks.length,
          })
          expect(staged[i]!.merkleRoot).toBe(toHex(oracleRoot(blocks.map(oracleLeafHash))))
        }
        await commitLocked(store, built.record, { home: true, shards: staged })
        for (const s of built.shards)
          expect(equalBytes(await collect(store.readShard(s.header.shardId)), s.bytes)).toBe(true)
      }),
      { seed: 11, numRuns: 25 },
    )
    expect(await store.stats()).toEqual(await store.recomputeStats())
  })

  it('stages all or none: a wrong byte count, a bad header, a shard listed twice or an abort stages nothing', async () => {
    const built = buildVersion({
      objectId: testObjectId('whole-bad'),
      version: 1,
      content: pseudoBytes(1, 5000),
    })
    const [a, b] = built.shards
    const before = {
      stats: await store.stats(),
      markers: await count(store.sublevels.staging),
      blocks: await count(store.sublevels.blocks),
    }
    const cases: unknown[] = [
      [
        { header: a!.header, bytes: a!.bytes },
        { header: b!.header, bytes: b!.bytes.subarray(1) },
      ],
      [
        { header: a!.header, bytes: a!.bytes },
        { header: { ...b!.header, shardId: a!.header.shardId }, bytes: b!.bytes },
      ],
      [
        { header: a!.header, bytes: a!.bytes },
        { header: b!.header, bytes: 'not bytes' },
      ],
      [{ header: a!.header, bytes: a!.bytes }, null],
      [
        { header: a!.header, bytes: a!.bytes },
        { header: a!.header, bytes: a!.bytes },
      ],
      'not a list',
    ]
    for (const shards of cases) {
      await expect(store.stageWhole(shards as never)).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    }
    const aborted = AbortSignal.abort(new Error('gone'))
    await expect(
      store.stageWhole([{ header: a!.header, bytes: a!.bytes }], { signal: aborted }),
    ).rejects.toThrow('gone')
    expect(await store.stats()).toEqual(before.stats)
    expect(await count(store.sublevels.staging)).toBe(before.markers)
    expect(await count(store.sublevels.blocks)).toBe(before.blocks)
  })

  it('stages nothing when its caller gives up while it waits for the write lock', async () => {
    const built = buildVersion({
      objectId: testObjectId('whole-lock'),
      version: 1,
      content: pseudoBytes(4, 3000),
    })
    const before = await store.stats()
    const unlock = await store.writeLock.acquire()
    const controller = new AbortController()
    const staging = store.stageWhole(
      built.shards.map((s) => ({ header: s.header, bytes: s.bytes })),
      { signal: controller.signal },
    )
    controller.abort(new Error('channel broke'))
    unlock()
    await expect(staging).rejects.toThrow('channel broke')
    expect(await store.stats()).toEqual(before)
  })

  it('leaves markers a restart keeps and a sweep or a discard removes, blocks included, like a streamed stage', async () => {
    const built = buildVersion({
      objectId: testObjectId('whole-sweep'),
      version: 1,
      content: pseudoBytes(2, 7000),
    })
    const markers = await count(store.sublevels.staging)
    const blocks = await count(store.sublevels.blocks)
    const first = await store.stageWhole(built.shards.map((s) => ({ header: s.header, bytes: s.bytes })))
    expect(await count(store.sublevels.staging)).toBe(markers + built.shards.length)
    const blockCount = built.shards.reduce((n, s) => n + Math.ceil(s.bytes.length / 1024), 0)
    expect(await count(store.sublevels.blocks)).toBe(blocks + blockCount)
    expect((await store.stats()).staged).toBe(built.shards.length)
    await store.discardStaging([first[0]!.stagingId])
    expect(await count(store.sublevels.staging)).toBe(markers + built.shards.length - 1)
    // A node that stops with shards staged keeps them (a decided write may still need them: the
    // sweep's roll-forward asks); a sweep that judged them unneeded removes them, blocks and all.
    await store.close()
    store = new ShardStore({ db }, { params: TEST_PARAMS })
    expect(await store.open()).toEqual({ removed: 0 })
    expect(await count(store.sublevels.staging)).toBe(markers + built.shards.length - 1)
    expect(await store.stats()).toEqual(await store.recomputeStats())
    const left = new Set(first.slice(1).map((s) => s.stagingId))
    expect(await store.sweepStaging({ olderThanMs: 0, removeStaged: left })).toEqual({ removed: left.size })
    expect(await count(store.sublevels.staging)).toBe(markers)
    expect(await count(store.sublevels.blocks)).toBe(blocks)
    expect(await store.stats()).toEqual(await store.recomputeStats())
  })
})
