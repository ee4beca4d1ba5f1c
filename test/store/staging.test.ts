import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { equalBytes, toHex } from '../../src/core/bytes.js'
import { Mutex } from '../../src/store/mutex.js'
import { ShardStore } from '../../src/store/store.js'
import { oracleLeafHash, oracleRoot } from '../helpers/rfc9162.js'
import {
  buildVersion,
  collect,
  commitLocked,
  memoryBackend,
  openedStore,
  pseudoBytes,
  TEST_PARAMS,
  testObjectId,
} from './helpers.js'

describe('ShardWriter', () => {
  const fixture = openedStore(memoryBackend, TEST_PARAMS)

  it('gives the oracle root for any cut of the bytes into chunks, written with or without awaiting', async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 6000 }),
        fc.array(fc.integer({ min: 1, max: 2500 }), { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        async (length, cuts, pipelined) => {
          run++
          const content = pseudoBytes(run, length * 4)
          // A fresh object per run, so a shrinking run never meets an earlier run's versions.
          const built = buildVersion({ objectId: testObjectId(`chunks-${run}`), version: 1, content })
          const shard = built.shards[0]!
          const writer = await fixture.store.beginShard(shard.header)
          const writes: Promise<void>[] = []
          for (let off = 0, i = 0; off < shard.bytes.length; i++) {
            const n = cuts[i % cuts.length]!
            const w = writer.write(shard.bytes.subarray(off, off + n))
            if (pipelined) writes.push(w)
            else await w
            off += n
          }
          await Promise.all(writes)
          const staged = await writer.finish()
          const blocks: Uint8Array[] = []
          for (let off = 0; off < shard.bytes.length; off += 1024)
            blocks.push(shard.bytes.subarray(off, off + 1024))
          expect(staged).toMatchObject({ length: shard.bytes.length, leafCount: blocks.length })
          expect(staged.merkleRoot).toBe(toHex(oracleRoot(blocks.map(oracleLeafHash))))
          await commitLocked(fixture.store, built.record, { home: true, shards: [staged] })
          expect(equalBytes(await collect(fixture.store.readShard(shard.header.shardId)), shard.bytes)).toBe(
            true,
          )
        },
      ),
      { seed: 7, numRuns: 40 },
    )
    expect(await fixture.store.stats()).toEqual(await fixture.store.recomputeStats())
  })

  it('takes whole blocks with the leaf hashes their writer computed, and refuses a leaf with anything else', async () => {
    const built = buildVersion({
      objectId: testObjectId('with-leaves'),
      version: 1,
      content: pseudoBytes(5, 9000),
    })
    const shard = built.shards[0]!
    const blocks: Uint8Array[] = []
    for (let off = 0; off < shard.bytes.length; off += 1024)
      blocks.push(shard.bytes.subarray(off, off + 1024))
    expect(blocks.at(-1)!.length).toBeLessThan(1024)
    const writer = await fixture.store.beginShard(shard.header)
    // Leaves from the RFC 9162 oracle, not the store's own function: the staged root must be theirs.
    for (const block of blocks) await writer.write(block, oracleLeafHash(block))
    const staged = await writer.finish()
    expect(staged.merkleRoot).toBe(toHex(oracleRoot(blocks.map(oracleLeafHash))))
    expect(staged.merkleRoot).toBe(built.record.shards[0]!.merkle_root)
    // The writer kept copies: changing the caller's buffers afterwards changes nothing stored.
    for (const block of blocks) block.fill(0xee)
    await commitLocked(fixture.store, built.record, { home: true, shards: [staged] })
    const expected = buildVersion({
      objectId: testObjectId('with-leaves'),
      version: 1,
      content: pseudoBytes(5, 9000),
    })
    expect(
      equalBytes(await collect(fixture.store.readShard(shard.header.shardId)), expected.shards[0]!.bytes),
    ).toBe(true)

    // A leaf with part of a block, with a block after a part, or of the wrong size: refused, and
    // the writer is discarded (nothing staged stays behind).
    const other = buildVersion({
      objectId: testObjectId('with-leaves-bad'),
      version: 1,
      content: pseudoBytes(6, 8192),
    })
    const bytes = other.shards[0]!.bytes
    expect(bytes.length).toBe(2048)
    const cases: Array<(w: Awaited<ReturnType<typeof fixture.store.beginShard>>) => Promise<void>> = [
      (w) => w.write(bytes.subarray(0, 1000), oracleLeafHash(bytes.subarray(0, 1000))),
      async (w) => {
        await w.write(bytes.subarray(0, 10))
        await w.write(bytes.subarray(10, 1034), oracleLeafHash(bytes.subarray(10, 1034)))
      },
      (w) => w.write(bytes.subarray(0, 1024), new Uint8Array(31)),
      // After the last block the next "block" is empty: no leaf may come with it.
      async (w) => {
        for (let off = 0; off < bytes.length; off += 1024) await w.write(bytes.subarray(off, off + 1024))
        await w.write(new Uint8Array(0), oracleLeafHash(new Uint8Array(0)))
      },
    ]
    for (const bad of cases) {
      const w = await fixture.store.beginShard(other.shards[0]!.header)
      await expect(bad(w)).rejects.toMatchObject({ code: 'INVALID_INPUT' })
      await expect(w.finish()).rejects.toBeDefined()
      await w.abort()
    }
    expect(await fixture.store.stats()).toEqual(await fixture.store.recomputeStats())
  })

  it('stageShard takes bytes, iterables and async iterables', async () => {
    const built = buildVersion({
      objectId: testObjectId('sources'),
      version: 1,
      content: pseudoBytes(3, 12_000),
    })
    const [a, b, c] = built.shards
    async function* chunks(bytes: Uint8Array) {
      for (let off = 0; off < bytes.length; off += 999) yield bytes.subarray(off, off + 999)
    }
    const staged = [
      await fixture.store.stageShard(a!.header, a!.bytes),
      await fixture.store.stageShard(b!.header, [b!.bytes.subarray(0, 10), b!.bytes.subarray(10)]),
      await fixture.store.stageShard(c!.header, chunks(c!.bytes)),
    ]
    expect(staged.map((s) => s.merkleRoot)).toEqual(built.record.shards.slice(0, 3).map((d) => d.merkle_root))
    // A source longer than declared leaves nothing staged.
    const before = await fixture.store.stats()
    await expect(
      fixture.store.stageShard(a!.header, new Uint8Array(a!.bytes.length + 1)),
    ).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    })
    expect(await fixture.store.stats()).toEqual(before)
    await fixture.store.discardStaging(staged.map((s) => s.stagingId))
  })

  it('fails a write an abort overtakes mid-chunk, and leaves nothing staged', async () => {
    const { db, cleanup } = await memoryBackend.open()
    let abortNow: (() => void) | undefined
    // The writer reads the clock once a chunk is admitted, before its blocks: the abort lands there.
    const now = () => {
      abortNow?.()
      abortNow = undefined
      return 0
    }
    const store = new ShardStore({ db }, { params: TEST_PARAMS, now })
    await store.open()
    try {
      const shard = buildVersion({
        objectId: testObjectId('overtaken'),
        version: 1,
        content: pseudoBytes(4, 24_000),
      }).shards[0]!
      const writer = await store.beginShard(shard.header)
      let aborted: Promise<void> | undefined
      abortNow = () => {
        aborted = writer.abort()
      }
      await expect(writer.write(shard.bytes)).rejects.toMatchObject({ code: 'INVALID_INPUT' })
      await aborted
      expect(await store.sublevels.staging.keys().all()).toEqual([])
      expect(await store.sublevels.blocks.keys().all()).toEqual([])
    } finally {
      await store.close()
      await cleanup()
    }
  })

  it('does not finish a shard before every block is in the database: a late failure fails the finish', async () => {
    const { db, cleanup } = await memoryBackend.open()
    const store = new ShardStore({ db }, { params: TEST_PARAMS })
    await store.open()
    try {
      const shard = buildVersion({
        objectId: testObjectId('late-fail'),
        version: 1,
        content: pseudoBytes(5, 12_000),
      }).shards[0]!
      const put = store.sublevels.blocks.put.bind(store.sublevels.blocks)
      let puts = 0
      // The last block's put fails, and only after the finish has been asked for.
      ;(store.sublevels.blocks as { put: unknown }).put = (key: Uint8Array, value: Uint8Array) =>
        ++puts === 3
          ? new Promise((_, reject) => setTimeout(() => reject(new Error('IO error: late')), 20))
          : put(key, value)
      const writer = await store.beginShard(shard.header)
      await writer.write(shard.bytes)
      // Refused (the failed put discards the writer), never a staged shard that then vanishes.
      await expect(writer.finish()).rejects.toThrow()
      await writer.abort()
      expect(await store.sublevels.staging.keys().all()).toEqual([])
      expect(await store.stats()).toEqual(await store.recomputeStats())
    } finally {
      await store.close()
      await cleanup()
    }
  })

  it('names staged shards with ids that grow in byte order, so new blocks land at the end of the key space', async () => {
    const built = buildVersion({
      objectId: testObjectId('ordered'),
      version: 1,
      content: pseudoBytes(4, 9000),
    })
    const ids: string[] = []
    for (let i = 0; i < 12; i++) {
      const shard = built.shards[i % built.shards.length]!
      ids.push((await fixture.store.stageShard(shard.header, shard.bytes)).stagingId)
    }
    // Lower-case hex of equal length sorts as the bytes do.
    expect([...ids].sort()).toEqual(ids)
    expect(new Set(ids).size).toBe(ids.length)
    // The sequence half increases by one per shard; the random half differs.
    const seqs = ids.map((id) => BigInt(`0x${id.slice(0, 16)}`))
    expect(seqs.slice(1).map((q, i) => q - seqs[i]!)).toEqual(ids.slice(1).map(() => 1n))
    expect(new Set(ids.map((id) => id.slice(16))).size).toBe(ids.length)
    await fixture.store.discardStaging(ids)
  })
})

describe('Mutex', () => {
  it('runs holders one at a time in arrival order, also after a failure', async () => {
    const lock = new Mutex()
    const order: string[] = []
    let inside = 0
    const task = (name: string, fail = false) =>
      lock.run(async () => {
        inside++
        expect(inside).toBe(1)
        order.push(`${name}:start`)
        await new Promise((r) => setImmediate(r))
        order.push(`${name}:end`)
        inside--
        if (fail) throw new Error(name)
      })
    const results = await Promise.allSettled([task('a'), task('b', true), task('c')])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect(order).toEqual(['a:start', 'a:end', 'b:start', 'b:end', 'c:start', 'c:end'])
    expect(lock.locked).toBe(false)
    const release = await lock.acquire()
    expect(lock.locked).toBe(true)
    release()
    release()
    expect(lock.locked).toBe(false)
  })
})
