import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { shardId } from '../../src/core/ids.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { classicBackend, openedStore, testObjectId } from './helpers.js'

// Live memory is what a writer retains; garbage it already dropped is the collector's business.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const MiB = 1024 * 1024
const SHARD_BYTES = 64 * MiB
const CHUNK = 64 * 1024

describe('staging memory (classic-level, 64 MiB shard)', () => {
  const fixture = openedStore(classicBackend, DEFAULT_PARAMS)

  it('retains a few blocks, not the shard', async () => {
    const objectId = testObjectId('big')
    const header = {
      objectId,
      version: 1,
      shardIndex: 0,
      shardId: shardId(objectId, 1, 0),
      length: SHARD_BYTES,
      blockSizeBytes: DEFAULT_PARAMS.blockSizeBytes,
    }
    const chunk = new Uint8Array(CHUNK)
    gc()
    const base = process.memoryUsage()
    let peakRss = 0
    let peakBuffers = 0
    const writer = await fixture.store.beginShard(header)
    for (let off = 0, i = 0; off < SHARD_BYTES; off += CHUNK, i++) {
      chunk.fill(i & 0xff)
      chunk[0] = i >>> 8
      await writer.write(chunk)
      if (i % 64 === 63) {
        gc()
        const m = process.memoryUsage()
        peakRss = Math.max(peakRss, m.rss - base.rss)
        peakBuffers = Math.max(peakBuffers, m.arrayBuffers - base.arrayBuffers)
      }
    }
    const staged = await writer.finish()
    expect(staged.leafCount).toBe(SHARD_BYTES / DEFAULT_PARAMS.blockSizeBytes)
    // Blocks in flight plus the one being filled: about 1 MiB at 256 KiB blocks.
    expect(peakBuffers).toBeLessThan(8 * MiB)
    // LevelDB's memtables and cache come on top; the shard itself (64 MiB) must not.
    expect(peakRss).toBeLessThan(48 * MiB)
    expect(peakBuffers).toBeGreaterThan(0)
    await writer.abort()
    expect((await fixture.store.stats()).staged).toBe(0)
  })
})
