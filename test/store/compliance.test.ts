import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { equalBytes, fromHex, toHex } from '../../src/core/bytes.js'
import { shardId } from '../../src/core/ids.js'
import { verifyInclusion } from '../../src/core/merkle.js'
import type { RootDb } from '../../src/store/db.js'
import { ShardStore } from '../../src/store/store.js'
import { oracleLeafHash, oraclePath } from '../helpers/rfc9162.js'
import {
  type Backend,
  buildVersion,
  classicBackend,
  collect,
  commitLocked,
  memoryBackend,
  pseudoBytes,
  stageAll,
  storeVersion,
  TEST_PARAMS,
  testObjectId,
} from './helpers.js'

// One suite, two backends: the store must behave identically on LevelDB and in memory.
describe.each<Backend>([memoryBackend, classicBackend])('ShardStore compliance on $name', (backend) => {
  let db: RootDb
  let cleanup: () => Promise<void>
  let store: ShardStore

  beforeEach(async () => {
    ;({ db, cleanup } = await backend.open())
    store = new ShardStore({ db }, { params: TEST_PARAMS })
    await store.open()
  })
  afterEach(async () => {
    await store.close()
    await cleanup()
  })

  async function expectCountersExact(): Promise<void> {
    expect(await store.stats()).toEqual(await store.recomputeStats())
  }

  it('reads a committed shard back byte-identical and proves every block', async () => {
    const built = buildVersion({
      objectId: testObjectId('roundtrip'),
      version: 1,
      content: pseudoBytes(1, 10_000),
    })
    const prepared = await storeVersion(store, built)
    expect(prepared.summary).toMatchObject({ index: 'created', idempotent: false, bytes_added: 10_000 })
    for (const s of built.shards) {
      const d = built.record.shards[s.header.shardIndex]!
      const m = await store.getManifest(s.header.shardId)
      expect(m).toMatchObject({
        objectId: built.record.object_id,
        version: 1,
        shardIndex: d.shard_index,
        length: d.length,
        leafCount: d.leaf_count,
        merkleRoot: d.merkle_root,
        hashCommit: built.record.hash_commit,
      })
      expect(equalBytes(await collect(store.readShard(s.header.shardId)), s.bytes)).toBe(true)
      const blocks: Uint8Array[] = []
      for (let off = 0; off < s.bytes.length; off += TEST_PARAMS.blockSizeBytes) {
        blocks.push(s.bytes.subarray(off, off + TEST_PARAMS.blockSizeBytes))
      }
      const leaves = blocks.map(oracleLeafHash)
      for (let i = 0; i < blocks.length; i++) {
        expect(equalBytes((await store.readBlock(s.header.shardId, i))!, blocks[i]!)).toBe(true)
        const p = await store.proveBlock(s.header.shardId, i)
        expect(equalBytes(p.block, blocks[i]!)).toBe(true)
        expect(p.auditPath.map(toHex)).toEqual(oraclePath(i, leaves).map(toHex))
        expect(verifyInclusion(p.leafHash, i, p.leafCount, p.auditPath, fromHex(d.merkle_root))).toBe(true)
      }
      const tail = await collect(store.readShard(s.header.shardId, { fromBlock: 1 }))
      expect(equalBytes(tail, s.bytes.subarray(TEST_PARAMS.blockSizeBytes))).toBe(true)
      const last = await collect(store.readShard(s.header.shardId, { fromBlock: blocks.length - 1 }))
      expect(equalBytes(last, blocks.at(-1)!)).toBe(true)
      // One past the last block is outside the shard for every read, not a missing or empty block.
      const past = blocks.length
      await expect(store.readBlock(s.header.shardId, past)).rejects.toMatchObject({ code: 'INVALID_INPUT' })
      await expect(store.proveBlock(s.header.shardId, past)).rejects.toMatchObject({ code: 'INVALID_INPUT' })
      await expect(collect(store.readShard(s.header.shardId, { fromBlock: past }))).rejects.toMatchObject({
        code: 'INVALID_INPUT',
      })
    }
    expect(await store.stats()).toEqual({
      objects: 1,
      versions: 1,
      shards: 4,
      bytes_stored: 10_000,
      staged: 0,
    })
    await expectCountersExact()
  })

  it('answers missing things with undefined, and bad ids with INVALID_INPUT', async () => {
    const unknown = 'ab'.repeat(32)
    expect(await store.getManifest(unknown)).toBeUndefined()
    expect(await store.readBlock(unknown, 0)).toBeUndefined()
    expect(await store.getRecord(unknown, 1)).toBeUndefined()
    expect(await store.getVersions(unknown)).toEqual([])
    expect(await store.latestVersion(unknown)).toBeUndefined()
    await expect(store.proveBlock(unknown, 0)).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(collect(store.readShard(unknown))).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(store.getManifest('AB'.repeat(32))).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    // Versions start at 1: version 0 is no version, not one that is missing.
    await expect(store.getRecord(unknown, 0)).rejects.toMatchObject({ code: 'INVALID_INPUT' })
  })

  it('keeps empty shards as manifests with no blocks (EMPTY_SHARD on proof)', async () => {
    const built = buildVersion({ objectId: testObjectId('tiny'), version: 1, content: pseudoBytes(2, 2) })
    await storeVersion(store, built)
    const empty = built.shards[3]!.header.shardId
    expect(await store.getManifest(empty)).toMatchObject({ length: 0, leafCount: 0 })
    expect(await collect(store.readShard(empty))).toHaveLength(0)
    // An empty shard has no block 1 to start from.
    await expect(collect(store.readShard(empty, { fromBlock: 1 }))).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    })
    await expect(store.proveBlock(empty, 0)).rejects.toMatchObject({ code: 'EMPTY_SHARD' })
  })

  it('accepts a home version only as latest + 1, idempotently, and keeps delete markers as history', async () => {
    const id = testObjectId('history')
    const v1 = buildVersion({ objectId: id, version: 1, content: pseudoBytes(3, 3000) })
    await storeVersion(store, v1)

    const again = await commitLocked(store, v1.record, { home: true, shards: [] })
    expect(again.summary).toMatchObject({ idempotent: true, index: 'unchanged' })
    expect(again.ops).toEqual([])

    const other = buildVersion({ objectId: id, version: 1, content: pseudoBytes(4, 3000) })
    await expect(commitLocked(store, other.record, { home: true, shards: [] })).rejects.toMatchObject({
      code: 'VERSION_CONFLICT',
    })
    const gap = buildVersion({ objectId: id, version: 3, content: pseudoBytes(5, 10) })
    await expect(commitLocked(store, gap.record, { home: true, shards: [] })).rejects.toMatchObject({
      code: 'INVALID_VERSION',
    })

    const v2 = buildVersion({ objectId: id, version: 2, content: pseudoBytes(6, 1500) })
    await storeVersion(store, v2)
    const del = buildVersion({ objectId: id, version: 3, content: new Uint8Array(0), kind: 'DELETE_MARKER' })
    await commitLocked(store, del.record, { home: true, shards: [] })

    const versions = await store.getVersions(id)
    expect(versions.map((e) => [e.version, e.kind, e.home])).toEqual([
      [1, 'STORE', true],
      [2, 'UPDATE', true],
      [3, 'DELETE_MARKER', true],
    ])
    expect(versions[0]!.record).toEqual(v1.record)
    expect(await store.latestVersion(id)).toBe(3)
    // The marker erases nothing: the earlier versions' shards are still readable.
    expect(
      equalBytes(await collect(store.readShard(v1.shards[0]!.header.shardId)), v1.shards[0]!.bytes),
    ).toBe(true)
    expect(await store.stats()).toMatchObject({ objects: 1, versions: 3, shards: 8, bytes_stored: 4500 })
    await expectCountersExact()
  })

  it('lets a holder keep records without the ordering rule, but never two contents for one version', async () => {
    const id = testObjectId('holder')
    const v5 = buildVersion({ objectId: id, version: 5, content: pseudoBytes(7, 2100) })
    const held = await stageAll(store, v5)
    const p = await commitLocked(store, v5.record, { home: false, shards: held.slice(0, 2) })
    expect(p.summary).toMatchObject({ index: 'created', home: false })
    expect((await store.getRecord(id, 5))?.home).toBe(false)
    const conflicting = buildVersion({ objectId: id, version: 5, content: pseudoBytes(8, 2100) })
    await expect(commitLocked(store, conflicting.record, { home: false, shards: [] })).rejects.toMatchObject({
      code: 'VERSION_CONFLICT',
    })
    // As a home it has no version 1..4, so 5 is a gap.
    await expect(commitLocked(store, v5.record, { home: true, shards: [] })).rejects.toMatchObject({
      code: 'INVALID_VERSION',
    })
    // A holder's entry becomes a home's when it is next in line.
    const w1 = buildVersion({ objectId: testObjectId('holder-2'), version: 1, content: pseudoBytes(9, 10) })
    await commitLocked(store, w1.record, { home: false, shards: [] })
    const upgraded = await commitLocked(store, w1.record, { home: true, shards: [] })
    expect(upgraded.summary.index).toBe('home_added')
    expect((await store.getRecord(w1.record.object_id, 1))?.home).toBe(true)
    await store.discardStaging(held.slice(2).map((s) => s.stagingId))
    await expectCountersExact()
  })

  it('refuses a record whose root differs from the staged bytes and writes nothing (ROOT_MISMATCH)', async () => {
    const id = testObjectId('mismatch')
    const good = buildVersion({ objectId: id, version: 1, content: pseudoBytes(10, 4000) })
    const forged = buildVersion({ objectId: id, version: 1, content: pseudoBytes(11, 4000) })
    const role = { home: true, shards: await stageAll(store, forged) }
    const before = await store.stats()
    await expect(commitLocked(store, good.record, role)).rejects.toMatchObject({ code: 'ROOT_MISMATCH' })
    expect(await store.getVersions(id)).toEqual([])
    for (const s of good.shards) expect(await store.getManifest(s.header.shardId)).toBeUndefined()
    expect(await store.stats()).toEqual(before)
    expect((await store.listRecords()).entries).toEqual([])
    await expectCountersExact()
  })

  it('refuses a record that names another length for the staged blocks and root (ROOT_MISMATCH)', async () => {
    // 4000 bytes make four shards of 1000; a record of 3999 names 999 for the last, one block as
    // before, and a liar may keep the staged root: committed, its manifest would disagree with its
    // blocks and the stored bytes would count one byte short.
    const id = testObjectId('short-length')
    const good = buildVersion({ objectId: id, version: 1, content: pseudoBytes(13, 4000) })
    const forged = structuredClone(good.record)
    forged.content_size = 3999
    forged.shards[3]!.length = 999
    const role = { home: true, shards: await stageAll(store, good) }
    const before = await store.stats()
    await expect(commitLocked(store, forged, role)).rejects.toMatchObject({ code: 'ROOT_MISMATCH' })
    expect(await store.getVersions(id)).toEqual([])
    for (const s of good.shards) expect(await store.getManifest(s.header.shardId)).toBeUndefined()
    expect(await store.stats()).toEqual(before)
    await store.discardStaging(role.shards.map((s) => s.stagingId))
    await expectCountersExact()
  })

  it('calls a commit idempotent exactly when it adds nothing the store counts', async () => {
    const built = buildVersion({ objectId: testObjectId('idem'), version: 1, content: pseudoBytes(14, 3000) })
    const attempts: Array<{ home: boolean; shards: number[] }> = [
      { home: false, shards: [0] },
      { home: false, shards: [0] }, // a retried transfer
      { home: false, shards: [0, 1] }, // the entry is there, shard 1 is new
      { home: true, shards: [] }, // the entry becomes a home's
      { home: true, shards: [1, 2] }, // shard 2 is new
      { home: true, shards: [0, 1, 2] },
    ]
    for (const a of attempts) {
      const staged = await stageAll(store, { ...built, shards: a.shards.map((i) => built.shards[i]!) })
      const before = await store.stats()
      const homeBefore = (await store.getRecord(built.record.object_id, 1))?.home
      const { summary } = await commitLocked(store, built.record, { home: a.home, shards: staged })
      const after = await store.stats()
      const homeAfter = (await store.getRecord(built.record.object_id, 1))?.home
      // Retried staging is dropped either way; everything else is news.
      const same = { ...before, staged: 0 }
      expect(summary.idempotent).toBe(
        JSON.stringify({ ...after, staged: 0 }) === JSON.stringify(same) && homeAfter === homeBefore,
      )
    }
    await expectCountersExact()
  })

  it('commits a shard transferred twice once, and drops the second copy in the same batch', async () => {
    const built = buildVersion({
      objectId: testObjectId('twice'),
      version: 1,
      content: pseudoBytes(12, 5000),
    })
    const first = await stageAll(store, built)
    const second = await stageAll(store, built, 333)
    await commitLocked(store, built.record, { home: true, shards: first })
    const retry = await commitLocked(store, built.record, { home: false, shards: second })
    expect(retry.summary.idempotent).toBe(true)
    expect(retry.summary.shards.every((s) => s.idempotent)).toBe(true)
    expect((await store.stats()).staged).toBe(0)
    for (const s of second) {
      expect(
        await store.sublevels.blocks
          .keys({ gte: fromHex(s.stagingId), lt: fromHex(`${s.stagingId}ff`) })
          .all(),
      ).toEqual([])
    }
    await expectCountersExact()
    // The same shard id with other content is a conflict, not a second copy.
    const forged = buildVersion({
      objectId: testObjectId('twice'),
      version: 1,
      content: pseudoBytes(13, 5000),
    })
    const forgedRole = { home: false, shards: await stageAll(store, forged) }
    await expect(commitLocked(store, forged.record, forgedRole)).rejects.toMatchObject({
      code: 'VERSION_CONFLICT',
    })
  })

  it('refuses unknown, unfinished or mismatched staging ids and an unlocked prepare', async () => {
    const built = buildVersion({
      objectId: testObjectId('staging-ids'),
      version: 1,
      content: pseudoBytes(14, 3000),
    })
    const shard = built.shards[0]!
    const unknown = { home: true, shards: [{ shardId: shard.header.shardId, stagingId: '00'.repeat(16) }] }
    await expect(commitLocked(store, built.record, unknown)).rejects.toMatchObject({ code: 'NOT_FOUND' })
    const writer = await store.beginShard(shard.header)
    await writer.write(shard.bytes.subarray(0, 10))
    const unfinished = {
      home: true,
      shards: [{ shardId: shard.header.shardId, stagingId: writer.stagingId }],
    }
    await expect(commitLocked(store, built.record, unfinished)).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await writer.abort()
    const other = await stageAll(store, { record: built.record, shards: [built.shards[1]!] })
    const swapped = {
      home: true,
      shards: [{ shardId: shard.header.shardId, stagingId: other[0]!.stagingId }],
    }
    await expect(commitLocked(store, built.record, swapped)).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    // A shard staged for another object is no shard of this version, whatever its marker says.
    const stranger = buildVersion({
      objectId: testObjectId('stranger'),
      version: 1,
      content: pseudoBytes(15, 3000),
    })
    const foreign = await stageAll(store, { record: stranger.record, shards: [stranger.shards[0]!] })
    await expect(commitLocked(store, built.record, { home: true, shards: foreign })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    })
    await store.discardStaging(foreign.map((s) => s.stagingId))
    await expect(store.prepareCommit(built.record, { home: true, shards: other })).rejects.toMatchObject({
      code: 'WRITE_LOCK_NOT_HELD',
    })
    await expect(
      commitLocked(store, { ...built.record, version: 0 }, { home: true, shards: [] }),
    ).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    })
  })

  it('validates shard headers and the declared length', async () => {
    const built = buildVersion({
      objectId: testObjectId('headers'),
      version: 2,
      content: pseudoBytes(15, 3000),
    })
    const h = built.shards[0]!.header
    const bad = [
      { ...h, shardId: built.shards[1]!.header.shardId },
      { ...h, shardIndex: 4, shardId: h.shardId },
      // Its id follows the formula, but an object has numShardsPerObject (4) shards: 0..3.
      { ...h, shardIndex: 4, shardId: shardId(h.objectId, h.version, 4) },
      { ...h, version: 0 },
      { ...h, objectId: h.objectId.toUpperCase() },
      { ...h, length: -1 },
      { ...h, length: 1.5 },
      { ...h, blockSizeBytes: 100 },
      { ...h, blockSizeBytes: undefined },
    ]
    for (const header of bad) {
      await expect(store.beginShard(header as typeof h)).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    }
    const writer = await store.beginShard(h)
    await writer.write(built.shards[0]!.bytes.subarray(0, 500))
    await expect(writer.finish()).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    await expect(writer.write(new Uint8Array(h.length))).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    await expect(writer.write(new Uint8Array(1))).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    await writer.abort()
    expect(await store.sublevels.staging.keys().all()).toEqual([])
    expect(await store.sublevels.blocks.keys().all()).toEqual([])
    await expectCountersExact()
  })

  it('aborts by signal and by discardStaging, leaving nothing behind', async () => {
    const built = buildVersion({
      objectId: testObjectId('abort'),
      version: 1,
      content: pseudoBytes(16, 8000),
    })
    const controller = new AbortController()
    const a = await store.beginShard(built.shards[0]!.header, { signal: controller.signal })
    await a.write(built.shards[0]!.bytes.subarray(0, 1500))
    controller.abort()
    await expect(a.write(built.shards[0]!.bytes.subarray(1500, 1600))).rejects.toThrow()
    await a.abort()
    const b = await store.beginShard(built.shards[1]!.header)
    await b.write(built.shards[1]!.bytes.subarray(0, 1500))
    const c = await stageAll(store, { record: built.record, shards: [built.shards[2]!] })
    await store.discardStaging([b.stagingId, c[0]!.stagingId, 'ff'.repeat(16)])
    await expect(b.write(new Uint8Array(1))).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    expect(await store.sublevels.staging.keys().all()).toEqual([])
    expect(await store.sublevels.blocks.keys().all()).toEqual([])
    expect((await store.stats()).staged).toBe(0)
    await expectCountersExact()
  })

  it('open() removes cut-off streams and keeps finished staged shards; sweepStaging removes old ones and idle streams', async () => {
    let clock = 1_000_000
    const now = () => clock
    await store.close()
    store = new ShardStore({ db }, { params: TEST_PARAMS, now })
    await store.open()
    const built = buildVersion({
      objectId: testObjectId('leftovers'),
      version: 1,
      content: pseudoBytes(17, 8000),
    })
    const [s0, s1, s2, s3] = built.shards
    const staged = await stageAll(store, { record: built.record, shards: [s0!] })
    const idle = await store.beginShard(s1!.header)
    await idle.write(s1!.bytes.subarray(0, 1200))
    const active = await store.beginShard(s2!.header)
    await active.write(s2!.bytes.subarray(0, 100))
    clock += 60_000
    await active.write(s2!.bytes.subarray(100, 1300))
    const fresh = await stageAll(store, { record: built.record, shards: [s3!] })
    expect((await store.stats()).staged).toBe(4)
    expect(await store.sweepStaging({ olderThanMs: 30_000 })).toEqual({ removed: 2 })
    expect(await store.sublevels.staging.keys().all()).toHaveLength(2)
    await expect(idle.write(s1!.bytes.subarray(1200, 1300))).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    await expect(commitLocked(store, built.record, { home: true, shards: staged })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    })
    expect(await store.sweepStaging({ olderThanMs: 30_000 })).toEqual({ removed: 0 })
    // A restart: a new store over the same database finds one stream cut off (removed) and one
    // finished shard never committed (kept for the roll-forward to judge).
    const restarted = new ShardStore({ db }, { params: TEST_PARAMS, now })
    expect(await restarted.open()).toEqual({ removed: 1 })
    expect(fresh).toHaveLength(1)
    expect((await restarted.staleStaged(0)).map((r) => r.stagingId)).toEqual([fresh[0]!.stagingId])
    expect(await restarted.stats()).toEqual(await restarted.recomputeStats())
    expect((await restarted.stats()).staged).toBe(1)
    expect(
      await restarted.sweepStaging({ olderThanMs: 0, removeStaged: new Set([fresh[0]!.stagingId]) }),
    ).toEqual({
      removed: 1,
    })
    expect(await restarted.sublevels.staging.keys().all()).toEqual([])
    expect(await restarted.sublevels.blocks.keys().all()).toEqual([])
    expect(await restarted.stats()).toEqual(await restarted.recomputeStats())
    await restarted.close()
  })

  it('sweepStaging with removeStaged removes exactly the finished shards listed; unfinished ones still go by age', async () => {
    let clock = 5_000_000
    await store.close()
    store = new ShardStore({ db }, { params: TEST_PARAMS, now: () => clock })
    await store.open()
    const built = buildVersion({
      objectId: testObjectId('judged'),
      version: 1,
      content: pseudoBytes(23, 8000),
    })
    const [s0, s1, s2, s3] = built.shards
    const [judged] = await stageAll(store, { record: built.record, shards: [s0!] })
    const [unjudged] = await stageAll(store, { record: built.record, shards: [s1!] })
    const idle = await store.beginShard(s2!.header)
    await idle.write(s2!.bytes.subarray(0, 100))
    const slow = await store.beginShard(s3!.header)
    await slow.write(s3!.bytes.subarray(0, 100))
    clock += 60_000
    // A shard's age counts from when it is complete: this one started a minute ago, finished now.
    await slow.write(s3!.bytes.subarray(100, 200))
    clock += 1
    await slow.write(s3!.bytes.subarray(200))
    await slow.finish()
    // Both finished shards are old; only the listed one goes. The idle stream goes by age.
    const stale = await store.staleStaged(30_000)
    expect(stale.map((r) => r.stagingId).sort()).toEqual([judged!.stagingId, unjudged!.stagingId].sort())
    expect(stale.find((r) => r.stagingId === judged!.stagingId)).toMatchObject({
      objectId: built.record.object_id,
      version: 1,
      shardId: s0!.header.shardId,
      merkleRoot: built.record.shards[0]!.merkle_root,
    })
    const removed = await store.sweepStaging({
      olderThanMs: 30_000,
      removeStaged: new Set([judged!.stagingId]),
    })
    expect(removed).toEqual({ removed: 2 })
    expect((await store.staleStaged(30_000)).map((r) => r.stagingId)).toEqual([unjudged!.stagingId])
    expect(await store.staleStaged(0)).toHaveLength(2)
    await expectCountersExact()
  })

  it('never streams a block past a lost one, and fails a shard whose last blocks are lost', async () => {
    const built = buildVersion({
      objectId: testObjectId('lost-blocks'),
      version: 1,
      content: pseudoBytes(20, 16_000),
    })
    await storeVersion(store, built)
    const { blockKey } = await import('../../src/store/db.js')
    const gap = (await store.getManifest(built.record.shards[0]!.shard_id))!
    const tail = (await store.getManifest(built.record.shards[1]!.shard_id))!
    expect(gap.leafCount).toBeGreaterThanOrEqual(3)
    await store.sublevels.blocks.del(blockKey(gap.stagingId, 1))
    await store.sublevels.blocks.del(blockKey(tail.stagingId, tail.leafCount - 1))
    for (const hashBlocks of [true, false]) {
      // Unhashed too (a peer checks each block against its leaves by index): block 2 must never
      // come out where block 1 belongs.
      const served: Uint8Array[] = []
      await expect(
        (async () => {
          for await (const b of store.readShard(gap.shardId, { hashBlocks })) served.push(b)
        })(),
      ).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' })
      expect(served).toHaveLength(1)
      await expect(collect(store.readShard(tail.shardId, { hashBlocks }))).rejects.toMatchObject({
        code: 'INTEGRITY_MISMATCH',
      })
    }
    // Scrub finds both: the one in the middle and the one at the end.
    const report = await store.scrub()
    expect(report.corrupt.map((c) => [c.shard_id, c.blocks]).sort()).toEqual(
      [
        [gap.shardId, [1]],
        [tail.shardId, [tail.leafCount - 1]],
      ].sort(),
    )
  })

  it('never serves a proof that does not verify against the record’s root, even from a manifest written over', async () => {
    const built = buildVersion({
      objectId: testObjectId('forged-leaf'),
      version: 1,
      content: pseudoBytes(21, 8000),
    })
    await storeVersion(store, built)
    const d = built.record.shards[0]!
    const m = (await store.getManifest(d.shard_id))!
    // Block 1 and its leaf in the manifest changed together: the block matches its leaf, but the
    // leaves no longer make the root.
    const { blockKey } = await import('../../src/store/db.js')
    const { encodeManifest } = await import('../../src/store/manifest.js')
    const forged = pseudoBytes(77, 1024)
    const leafHashes = m.leafHashes.map((l, i) => (i === 1 ? oracleLeafHash(forged) : l))
    await store.sublevels.blocks.put(blockKey(m.stagingId, 1), forged)
    await store.sublevels.manifests.put(fromHex(d.shard_id), encodeManifest({ ...m, leafHashes }))
    for (let i = 0; i < m.leafCount; i++) {
      const proof = await store.proveBlock(d.shard_id, i).catch((err: { code: string }) => err.code)
      if (typeof proof === 'string') expect(proof).toBe('INTEGRITY_MISMATCH')
      else
        expect(
          verifyInclusion(proof.leafHash, i, proof.leafCount, proof.auditPath, fromHex(d.merkle_root)),
        ).toBe(true)
    }
    await expect(store.proveBlock(d.shard_id, 1)).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' })
  })

  it('scrub reports exactly the block written over or removed in the database', async () => {
    const a = buildVersion({ objectId: testObjectId('scrub-a'), version: 1, content: pseudoBytes(18, 9000) })
    const b = buildVersion({ objectId: testObjectId('scrub-b'), version: 1, content: pseudoBytes(19, 5000) })
    await storeVersion(store, a)
    await storeVersion(store, b)
    const clean = await store.scrub()
    expect(clean.corrupt).toEqual([])
    expect(clean.shards).toBe(8)
    expect(clean.blocks).toBe([...a.record.shards, ...b.record.shards].reduce((n, s) => n + s.leaf_count, 0))

    const target = a.record.shards[1]!
    const m = (await store.getManifest(target.shard_id))!
    const { blockKey } = await import('../../src/store/db.js')
    await store.sublevels.blocks.put(blockKey(m.stagingId, 1), pseudoBytes(99, 1024))
    const lost = (await store.getManifest(b.record.shards[2]!.shard_id))!
    await store.sublevels.blocks.del(blockKey(lost.stagingId, 0))
    const progress: number[] = []
    const report = await store.scrub({ onProgress: (e) => progress.push(e.shardsChecked) })
    expect(report.corrupt.sort((x, y) => x.shard_id.localeCompare(y.shard_id))).toEqual(
      [
        { shard_id: target.shard_id, object_id: a.record.object_id, version: 1, blocks: [1] },
        { shard_id: lost.shardId, object_id: b.record.object_id, version: 1, blocks: [0] },
      ].sort((x, y) => x.shard_id.localeCompare(y.shard_id)),
    )
    expect(progress).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    await expect(collect(store.readShard(target.shard_id))).rejects.toMatchObject({
      code: 'INTEGRITY_MISMATCH',
    })
    // Unhashed, as a node serves a peer that checks every block itself: the changed block comes
    // out as stored, and a lost one is still an error.
    const served: Uint8Array[] = []
    for await (const block of store.readShard(target.shard_id, { hashBlocks: false })) served.push(block)
    expect(served).toHaveLength(m.leafCount)
    expect(equalBytes(served[1]!, pseudoBytes(99, 1024))).toBe(true)
    await expect(collect(store.readShard(lost.shardId, { hashBlocks: false }))).rejects.toMatchObject({
      code: 'INTEGRITY_MISMATCH',
    })
    await expect(store.proveBlock(target.shard_id, 1)).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' })
    await expect(store.proveBlock(lost.shardId, 0)).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' })
    expect(await store.readBlock(lost.shardId, 0)).toBeUndefined()
    // The last block alone (one get, not an iterator) is checked, and missed, the same way.
    const last = m.leafCount - 1
    await store.sublevels.blocks.put(blockKey(m.stagingId, last), pseudoBytes(98, 10))
    await expect(collect(store.readShard(target.shard_id, { fromBlock: last }))).rejects.toMatchObject({
      code: 'INTEGRITY_MISMATCH',
    })
    const lastServed = await collect(store.readShard(target.shard_id, { fromBlock: last, hashBlocks: false }))
    expect(equalBytes(lastServed, pseudoBytes(98, 10))).toBe(true)
    await store.sublevels.blocks.del(blockKey(m.stagingId, last))
    await expect(
      collect(store.readShard(target.shard_id, { fromBlock: last, hashBlocks: false })),
    ).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' })
    const aborted = new AbortController()
    aborted.abort()
    await expect(store.scrub({ signal: aborted.signal })).rejects.toThrow()
  })

  it('refuses use before open and after close', async () => {
    const fresh = new ShardStore({ db }, { params: TEST_PARAMS })
    await expect(fresh.stats()).rejects.toMatchObject({ code: 'STORE_CLOSED' })
    await store.close()
    await expect(store.getManifest('ab'.repeat(32))).rejects.toMatchObject({ code: 'STORE_CLOSED' })
  })
})
