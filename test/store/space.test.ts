import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'
import { InvalidInputError } from '../../src/core/errors.js'
import { shardId } from '../../src/core/ids.js'
import { StorageFullError } from '../../src/store/errors.js'
import { DiskSpaceGuard, STREAM_ADMIT_BYTES, storageFullFrom } from '../../src/store/space.js'
import { ShardStore } from '../../src/store/store.js'
import { buildVersion, commitLocked, memoryBackend, pseudoBytes, TEST_PARAMS } from './helpers.js'

/** A disk whose free space drops only when bytes land, as a filesystem's does. */
function fakeDisk(free: number) {
  const disk = { free, readings: 0 }
  const guard = (reserveBytes: number, capacityBytes: number | null = null, now = () => 0) =>
    new DiskSpaceGuard({
      freeBytes: async () => {
        disk.readings++
        return disk.free
      },
      reserveBytes,
      capacityBytes,
      now,
    })
  return { disk, guard }
}

async function admit(g: DiskSpaceGuard, bytes: number, held = 0): Promise<boolean> {
  try {
    await g.admit(bytes, held)
    return true
  } catch (err) {
    expect(err).toBeInstanceOf(StorageFullError)
    expect((err as StorageFullError).code).toBe('STORAGE_FULL')
    return false
  }
}

describe('DiskSpaceGuard', () => {
  it('admits up to the reserve and not a byte past it', async () => {
    const { disk, guard } = fakeDisk(1000)
    const g = guard(100)
    expect(await admit(g, 901)).toBe(false)
    expect(await admit(g, 900)).toBe(true)
    disk.free -= 900
    g.landed(900)
    expect(await admit(g, 0)).toBe(true)
    expect(await admit(g, 1)).toBe(false)
  })

  it('counts admitted bytes not yet on disk, so two stages cannot share the same free bytes', async () => {
    const { disk, guard } = fakeDisk(1000)
    const g = guard(0)
    expect(await admit(g, 600)).toBe(true)
    // The first stage has not landed: even a fresh reading must not hand its bytes out again.
    expect(await admit(g, 600)).toBe(false)
    expect(disk.readings).toBe(2)
    disk.free -= 600
    g.landed(600)
    expect(await admit(g, 400)).toBe(true)
  })

  it('re-reads before refusing, so space an operator freed is used at once', async () => {
    const { disk, guard } = fakeDisk(100)
    const g = guard(50)
    expect(await admit(g, 80)).toBe(false)
    disk.free = 10_000
    expect(await admit(g, 80)).toBe(true)
    expect(disk.readings).toBe(2)
  })

  it('reads once a second while stages fit, and shares one reading among concurrent callers', async () => {
    const { disk, guard } = fakeDisk(10_000)
    let now = 0
    const g = guard(0, null, () => now)
    await Promise.all([g.admit(1, 0), g.status(0), g.status(0)])
    expect(disk.readings).toBe(1)
    await g.admit(1, 0)
    expect(disk.readings).toBe(1)
    now = 1000
    await g.admit(1, 0)
    expect(disk.readings).toBe(2)
  })

  it('keeps bytes that landed during a reading charged', async () => {
    let release: (free: number) => void = () => {}
    let free = 1000
    let now = 0
    const g = new DiskSpaceGuard({
      freeBytes: () => new Promise<number>((r) => (release = r)),
      reserveBytes: 0,
      now: () => now,
    })
    const first = g.admit(300, 0)
    release(free)
    await first
    // A second reading starts; the stage lands before the filesystem answers with the old figure.
    now = 1000
    const reading = g.status(0)
    const stale = free
    g.landed(300)
    free -= 300
    release(stale)
    expect((await reading).free_bytes).toBe(700)
  })

  it('enforces the capacity over what the node holds, committed and staged', async () => {
    const { guard } = fakeDisk(1_000_000)
    const g = guard(0, 1000)
    expect(await admit(g, 400, 500)).toBe(true)
    expect(await admit(g, 101, 900)).toBe(false)
    expect(await admit(g, 100, 900)).toBe(true)
    expect(await g.status(1000)).toMatchObject({ capacity_bytes: 1000, accepting_writes: false })
    expect(await g.status(999)).toMatchObject({ accepting_writes: true })
  })

  it('reports its view in status', async () => {
    const { guard } = fakeDisk(5000)
    expect(await guard(1000).status(0)).toEqual({
      free_bytes: 5000,
      reserve_bytes: 1000,
      capacity_bytes: null,
      accepting_writes: true,
    })
    expect((await guard(5000).status(0)).accepting_writes).toBe(false)
  })

  it('refuses bad settings and sizes with INVALID_INPUT', async () => {
    const { guard } = fakeDisk(0)
    expect(() => guard(-1)).toThrow(InvalidInputError)
    expect(() => guard(0, 1.5)).toThrow(InvalidInputError)
    await expect(guard(0).admit(-1, 0)).rejects.toThrow(InvalidInputError)
  })

  it('never lets the disk fall below the reserve, whatever the order of stages, landings and readings (property)', async () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('admit' as const), bytes: fc.integer({ min: 0, max: 400 }) }),
      fc.record({
        kind: fc.constant('land' as const),
        pick: fc.nat(),
        bytes: fc.integer({ min: 1, max: 200 }),
      }),
      fc.record({ kind: fc.constant('end' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('tick' as const) }),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const reserve = 100
        let now = 0
        const { disk, guard } = fakeDisk(1000)
        const g = guard(reserve, null, () => now)
        // A stage (a batch or a stream) admitted and not yet ended, and how much of it is on disk.
        const open: Array<{ declared: number; landed: number }> = []
        for (const o of ops) {
          if (o.kind === 'admit') {
            if (await admit(g, o.bytes)) open.push({ declared: o.bytes, landed: 0 })
          } else if (o.kind === 'land' && open.length > 0) {
            const s = open[o.pick % open.length]!
            const n = Math.min(o.bytes, s.declared - s.landed)
            s.landed += n
            disk.free -= n
          } else if (o.kind === 'end' && open.length > 0) {
            // A stage ends written or failed; a failed one's bytes are deleted again.
            const [s] = open.splice(o.pick % open.length, 1)
            if (s!.landed < s!.declared) disk.free += s!.landed
            g.landed(s!.declared)
          } else if (o.kind === 'tick') {
            now += 1000
          }
          // Whatever the open stages may still write must fit above the reserve.
          const owed = open.reduce((sum, s) => sum + s.declared - s.landed, 0)
          expect(disk.free - owed).toBeGreaterThanOrEqual(reserve)
        }
      }),
      { seed: 0x5eed, numRuns: 1000 },
    )
  })
})

describe('ShardStore with a space guard', () => {
  async function storeWith(free: number, reserve: number) {
    const backend = await memoryBackend.open()
    const space = new DiskSpaceGuard({ freeBytes: async () => free, reserveBytes: reserve })
    const store = new ShardStore({ db: backend.db, space }, { params: TEST_PARAMS })
    await store.open()
    return { store, space, cleanup: backend.cleanup }
  }
  const oid = 'ab'.repeat(32)
  const header = (index: number, length: number) => ({
    objectId: oid,
    version: 1,
    shardIndex: index,
    shardId: shardId(oid, 1, index),
    length,
    blockSizeBytes: TEST_PARAMS.blockSizeBytes,
  })

  it('refuses a whole stage that does not fit and stages nothing', async () => {
    const { store, cleanup } = await storeWith(5000, 1000)
    try {
      const shards = [0, 1, 2].map((i) => ({ header: header(i, 1500), bytes: pseudoBytes(i + 1, 1500) }))
      await expect(store.stageWhole(shards)).rejects.toMatchObject({ code: 'STORAGE_FULL' })
      expect((await store.stats()).staged).toBe(0)
      const fits = await store.stageWhole(shards.slice(0, 2))
      expect(fits).toHaveLength(2)
      expect((await store.stats()).staged).toBe(2)
      expect(await store.spaceStatus()).toMatchObject({ free_bytes: 2000, accepting_writes: true })
    } finally {
      await cleanup()
    }
  })

  it('refuses a streamed shard up front and gives an aborted stream’s room back', async () => {
    const { store, cleanup } = await storeWith(5000, 1000)
    try {
      await expect(store.beginShard(header(0, 4001))).rejects.toMatchObject({ code: 'STORAGE_FULL' })
      expect((await store.stats()).staged).toBe(0)
      const writer = await store.beginShard(header(0, 4000))
      await writer.write(pseudoBytes(9, 1000))
      expect(await store.spaceStatus()).toMatchObject({ accepting_writes: false })
      await writer.abort()
      expect(await store.spaceStatus()).toMatchObject({ free_bytes: 5000, accepting_writes: true })
      expect((await store.stats()).staged).toBe(0)
    } finally {
      await cleanup()
    }
  })

  it('takes a large stream’s room as its bytes arrive, so a stream announced but not sent holds little', async () => {
    const S = STREAM_ADMIT_BYTES
    const { store, cleanup } = await storeWith(1000 + 3 * S + 100, 1000)
    try {
      // Three streams announcing 1 GiB each take S each at their headers; a fourth finds no room.
      const writers = await Promise.all([0, 1, 2].map((i) => store.beginShard(header(i, 2 ** 30))))
      expect(await store.spaceStatus()).toMatchObject({ free_bytes: 1100, accepting_writes: true })
      await expect(store.beginShard(header(3, 2 ** 30))).rejects.toMatchObject({ code: 'STORAGE_FULL' })
      for (const w of writers) await w.abort()
      expect((await store.stats()).staged).toBe(0)
      // Their room is back (the next reading counts nothing for them): the fourth is taken now.
      await (await store.beginShard(header(3, 2 ** 30))).abort()
    } finally {
      await cleanup()
    }
  })

  /**
   * A disk whose free space goes down by what the test says was written (`wrote`), read afresh at each
   * admission, as a node's is once a stream runs longer than a second.
   */
  async function fillingDisk(free: number, reserve: number) {
    const backend = await memoryBackend.open()
    let onDisk = 0
    const space = new DiskSpaceGuard({
      freeBytes: async () => free - onDisk,
      reserveBytes: reserve,
      maxAgeMs: 0,
    })
    const store = new ShardStore({ db: backend.db, space }, { params: TEST_PARAMS })
    await store.open()
    return { store, wrote: (bytes: number) => void (onDisk += bytes), cleanup: backend.cleanup }
  }

  /** A store on a disk with room to spare, holding at most `capacityBytes` of shard data. */
  async function storeWithCapacity(capacityBytes: number) {
    const backend = await memoryBackend.open()
    const space = new DiskSpaceGuard({ freeBytes: async () => 2 ** 40, reserveBytes: 0, capacityBytes })
    const store = new ShardStore({ db: backend.db, space }, { params: TEST_PARAMS })
    await store.open()
    return { store, cleanup: backend.cleanup }
  }

  it('fails a stream whose later bytes find no room with STORAGE_FULL, removes what it staged, and gives its room back', async () => {
    const S = STREAM_ADMIT_BYTES
    const disk = await fillingDisk(1000 + S + S / 4, 1000)
    try {
      const writer = await disk.store.beginShard(header(0, 2 * S))
      await writer.write(pseudoBytes(1, S))
      disk.wrote(S)
      // The next byte needs S more on disk, and S / 4 is left.
      await expect(writer.write(pseudoBytes(2, 1))).rejects.toMatchObject({ code: 'STORAGE_FULL' })
      // The writer removes what it staged by itself: a sender that never aborts leaves nothing.
      await vi.waitFor(async () => expect(await disk.store.sublevels.staging.keys().all()).toEqual([]))
      expect(await disk.store.sublevels.blocks.keys().all()).toEqual([])
      await writer.abort()
      disk.wrote(-S)
      expect((await disk.store.stats()).staged).toBe(0)
      // Its room is back: a stream of S + S / 4 fits it exactly.
      const next = await disk.store.beginShard(header(1, S + S / 4))
      await next.write(pseudoBytes(4, S))
      disk.wrote(S)
      await next.write(pseudoBytes(5, S / 4))
      expect((await next.finish()).length).toBe(S + S / 4)
    } finally {
      await disk.cleanup()
    }
  })

  it('keeps an open stream’s room taken when another stream ends', async () => {
    // A finished stream gives back only the room its blocks did not land in: giving back all it
    // took would hand the room another stream still holds to a third.
    const S = STREAM_ADMIT_BYTES
    const disk = await fillingDisk(1000 + 2 * S, 1000)
    try {
      const holder = await disk.store.beginShard(header(0, S))
      const done = await disk.store.beginShard(header(1, S))
      await done.write(pseudoBytes(1, S))
      disk.wrote(S)
      await done.finish()
      // On disk: S written; held ahead: S for `holder`. Nothing is left above the reserve.
      await expect(disk.store.beginShard(header(2, 1))).rejects.toMatchObject({ code: 'STORAGE_FULL' })
      await holder.abort()
      await (await disk.store.beginShard(header(2, S))).abort()
    } finally {
      await disk.cleanup()
    }
  })

  it('lets a stream that fits run to its end: its landed blocks are not counted again as still to come', async () => {
    // Found by a review: a stream's written bytes counted both in the disk's reading and as admitted
    // room still to land, so a 3S stream was refused its third part on a disk with 4S free.
    const S = STREAM_ADMIT_BYTES
    const disk = await fillingDisk(1000 + 4 * S, 1000)
    try {
      const writer = await disk.store.beginShard(header(0, 3 * S))
      for (let i = 0; i < 3; i++) {
        await writer.write(pseudoBytes(i + 1, S))
        disk.wrote(S)
      }
      expect((await writer.finish()).length).toBe(3 * S)
    } finally {
      await disk.cleanup()
    }
  })

  it('counts staged shards against the capacity until they are committed or taken back', async () => {
    const { store, cleanup } = await storeWithCapacity(4000)
    try {
      const first = await store.stageWhole(
        [0, 1].map((i) => ({ header: header(i, 1500), bytes: pseudoBytes(i + 1, 1500) })),
      )
      // Nothing is committed yet, but 3000 bytes are staged: 1500 more would pass 4000.
      await expect(
        store.stageWhole([{ header: header(2, 1500), bytes: pseudoBytes(3, 1500) }]),
      ).rejects.toMatchObject({
        code: 'STORAGE_FULL',
      })
      await store.discardStaging(first.map((s) => s.stagingId))
      const again = await store.stageWhole([{ header: header(2, 1500), bytes: pseudoBytes(3, 1500) }])
      expect(again).toHaveLength(1)
      expect(await store.spaceStatus()).toMatchObject({ capacity_bytes: 4000, accepting_writes: true })
    } finally {
      await cleanup()
    }
  })

  it('counts a committed shard against the capacity once: its staged bytes go when its stored bytes come', async () => {
    const { store, cleanup } = await storeWithCapacity(5000)
    try {
      // 4000 bytes staged, then committed: the node holds 4000, so 1000 more fill the quota exactly.
      const built = buildVersion({ objectId: oid, version: 1, content: pseudoBytes(7, 4000) })
      const staged = await store.stageWhole(built.shards)
      const role = { home: true, shards: staged.map((s) => ({ shardId: s.shardId, stagingId: s.stagingId })) }
      await commitLocked(store, built.record, role)
      // A shard of another object (any header names a length; its shard id does not depend on it).
      const other = buildVersion({ objectId: 'cd'.repeat(32), version: 1, content: new Uint8Array(0) })
      const headerOf = (length: number) => ({ ...other.shards[0]!.header, length })
      const stage = (length: number) =>
        store.stageWhole([{ header: headerOf(length), bytes: pseudoBytes(9, length) }])
      await expect(stage(1001)).rejects.toMatchObject({ code: 'STORAGE_FULL' })
      expect(await stage(1000)).toHaveLength(1)
      expect(await store.spaceStatus()).toMatchObject({ accepting_writes: false })
    } finally {
      await cleanup()
    }
  })

  it('counts a stream against the capacity as its bytes arrive, not by the length it announced', async () => {
    const S = STREAM_ADMIT_BYTES
    const { store, cleanup } = await storeWithCapacity(3 * S + 100)
    try {
      // Three streams announcing 1 GiB each, far past the quota, take S each; a fourth finds none.
      const writers = await Promise.all([0, 1, 2].map((i) => store.beginShard(header(i, 2 ** 30))))
      expect(await store.spaceStatus()).toMatchObject({ accepting_writes: true })
      await expect(store.beginShard(header(3, 2 ** 30))).rejects.toMatchObject({ code: 'STORAGE_FULL' })
      await expect(
        store.stageWhole([{ header: header(3, 101), bytes: pseudoBytes(3, 101) }]),
      ).rejects.toMatchObject({ code: 'STORAGE_FULL' })
      // A stream's next part is taken against the quota too: S more would pass it.
      await writers[0]!.write(pseudoBytes(1, S))
      await expect(writers[0]!.write(pseudoBytes(2, 1))).rejects.toMatchObject({ code: 'STORAGE_FULL' })
      for (const w of writers) await w.abort()
      expect((await store.stats()).staged).toBe(0)
      // Their quota is back: a whole 3S + 100 stream fits it exactly, and is held whole once staged.
      const whole = await store.beginShard(header(0, 3 * S + 100))
      for (const part of [S, S, S, 100]) await whole.write(pseudoBytes(part, part))
      expect((await whole.finish()).length).toBe(3 * S + 100)
      expect(await store.spaceStatus()).toMatchObject({ accepting_writes: false })
    } finally {
      await cleanup()
    }
  })

  it('never lets two streams take the same room in the quota', async () => {
    const S = STREAM_ADMIT_BYTES
    const { store, cleanup } = await storeWithCapacity(3 * S)
    try {
      const [a, b] = await Promise.all([0, 1].map((i) => store.beginShard(header(i, 2 * S))))
      await Promise.all([a!.write(pseudoBytes(1, S)), b!.write(pseudoBytes(2, S))])
      // Each needs S more for its next byte, and only S is left: exactly one gets it.
      const outcomes = await Promise.allSettled([a!.write(pseudoBytes(3, 1)), b!.write(pseudoBytes(4, 1))])
      expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected'])
      expect(outcomes.find((o) => o.status === 'rejected')).toMatchObject({
        reason: { code: 'STORAGE_FULL' },
      })
    } finally {
      await cleanup()
    }
  })

  it('gives a stage’s room back when its database write fails', async () => {
    // Nothing lands when a batch fails, so the disk's free space is what it was: from the next
    // reading on all of it must be admitted again, or every failed write would shrink the node's
    // room for good. (Until that reading the guard counts the bytes as used: it cannot tell.)
    const backend = await memoryBackend.open()
    let now = 0
    const space = new DiskSpaceGuard({ freeBytes: async () => 5000, reserveBytes: 0, now: () => now })
    const store = new ShardStore({ db: backend.db, space }, { params: TEST_PARAMS })
    await store.open()
    try {
      const batch = backend.db.batch.bind(backend.db)
      ;(backend.db as { batch: unknown }).batch = () => Promise.reject(new Error('IO error: disk on fire'))
      await expect(
        store.stageWhole([{ header: header(0, 3000), bytes: pseudoBytes(1, 3000) }]),
      ).rejects.toThrow('disk on fire')
      await expect(store.beginShard(header(1, 3000))).rejects.toThrow('disk on fire')
      ;(backend.db as { batch: unknown }).batch = batch
      now += 1000
      expect(await store.spaceStatus()).toMatchObject({ free_bytes: 5000, accepting_writes: true })
      expect(await store.stageWhole([{ header: header(2, 5000), bytes: pseudoBytes(2, 5000) }])).toHaveLength(
        1,
      )
    } finally {
      await store.close()
      await backend.cleanup()
    }
  })

  it('stages nothing when the signal aborts while the stage waits for room', async () => {
    // The abort arrives while the guard reads the disk: "an aborted signal before the batch stages
    // nothing" holds for the time spent waiting for room too.
    const backend = await memoryBackend.open()
    let reading!: () => void
    const space = new DiskSpaceGuard({
      freeBytes: () => new Promise<number>((resolve) => (reading = () => resolve(1_000_000))),
      reserveBytes: 0,
    })
    const store = new ShardStore({ db: backend.db, space }, { params: TEST_PARAMS })
    await store.open()
    try {
      const controller = new AbortController()
      const stage = store.stageWhole([{ header: header(0, 100), bytes: pseudoBytes(1, 100) }], {
        signal: controller.signal,
      })
      await vi.waitFor(() => expect(reading).toBeDefined())
      controller.abort()
      reading()
      await expect(stage).rejects.toMatchObject({ name: 'AbortError' })
      expect(await store.stats()).toEqual(await store.recomputeStats())
      expect(await store.sublevels.staging.keys().all()).toEqual([])
    } finally {
      await store.close()
      await backend.cleanup()
    }
  })

  it('counts the staged bytes of a database from before staged_bytes against the capacity after open', async () => {
    // An older release kept no staged_bytes: open() must count them from the staged shards it
    // keeps, or a staged shard waiting for its commit would hold no quota.
    const backend = await memoryBackend.open()
    const first = new ShardStore({ db: backend.db }, { params: TEST_PARAMS })
    await first.open()
    await first.stageWhole([{ header: header(0, 3000), bytes: pseudoBytes(1, 3000) }])
    await first.close()
    const { staged_bytes: _, ...older } = (await first.sublevels.meta.get('counters')) as Record<
      string,
      number
    >
    await first.sublevels.meta.put('counters', older)
    const space = new DiskSpaceGuard({ freeBytes: async () => 2 ** 40, reserveBytes: 0, capacityBytes: 4000 })
    const store = new ShardStore({ db: backend.db, space }, { params: TEST_PARAMS })
    await store.open()
    try {
      await expect(
        store.stageWhole([{ header: header(1, 1001), bytes: pseudoBytes(2, 1001) }]),
      ).rejects.toMatchObject({ code: 'STORAGE_FULL' })
      expect(await store.stageWhole([{ header: header(1, 1000), bytes: pseudoBytes(2, 1000) }])).toHaveLength(
        1,
      )
    } finally {
      await store.close()
      await backend.cleanup()
    }
  })

  it('has no space status without a guard', async () => {
    const backend = await memoryBackend.open()
    const store = new ShardStore({ db: backend.db }, { params: TEST_PARAMS })
    await store.open()
    expect(await store.spaceStatus()).toBeNull()
    await backend.cleanup()
  })
})

describe('storageFullFrom', () => {
  it('turns a full disk reported by LevelDB or the OS into STORAGE_FULL, and nothing else', () => {
    // classic-level wraps LevelDB's status text; the OS text is what says the disk is full.
    const leveldb = new Error('Write failed', {
      cause: Object.assign(new Error('IO error: /d/db/000007.ldb: No space left on device'), {
        code: 'LEVEL_IO_ERROR',
      }),
    })
    expect(storageFullFrom(leveldb)).toMatchObject({ code: 'STORAGE_FULL', cause: leveldb })
    const os = Object.assign(new Error('write failed'), { code: 'ENOSPC' })
    expect(storageFullFrom(os)).toBeInstanceOf(StorageFullError)
    const other = new Error('IO error: Permission denied')
    expect(storageFullFrom(other)).toBe(other)
    expect(storageFullFrom('No space left on device')).toBe('No space left on device')
  })

  it('is what a store answers when the database write itself fails for space', async () => {
    const backend = await memoryBackend.open()
    const store = new ShardStore({ db: backend.db }, { params: TEST_PARAMS })
    await store.open()
    const batch = backend.db.batch.bind(backend.db)
    const full = () => Promise.reject(new Error('IO error: 000009.log: No space left on device'))
    ;(backend.db as { batch: unknown }).batch = full
    const oid = 'cd'.repeat(32)
    const header = {
      objectId: oid,
      version: 1,
      shardIndex: 0,
      shardId: shardId(oid, 1, 0),
      length: 10,
      blockSizeBytes: TEST_PARAMS.blockSizeBytes,
    }
    await expect(store.stageWhole([{ header, bytes: pseudoBytes(3, 10) }])).rejects.toMatchObject({
      code: 'STORAGE_FULL',
    })
    await expect(store.beginShard(header)).rejects.toMatchObject({ code: 'STORAGE_FULL' })
    ;(backend.db as { batch: unknown }).batch = batch
    expect((await store.stats()).staged).toBe(0)
    await backend.cleanup()
  })
})
