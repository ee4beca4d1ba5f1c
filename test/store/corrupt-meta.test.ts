import { describe, expect, it } from 'vitest'
import { fromHex } from '../../src/core/bytes.js'
import { encodeManifest } from '../../src/store/manifest.js'
import { ShardStore } from '../../src/store/store.js'
import {
  buildVersion,
  memoryBackend,
  pseudoBytes,
  storeVersion,
  TEST_PARAMS,
  testObjectId,
} from './helpers.js'

/**
 * Stored counters and manifests that cannot be right are reported (INTEGRITY_MISMATCH), never read
 * as zeros or trusted: a counter read wrong would be written back wrong by the next batch, and a
 * manifest whose leaves disagree with its count would prove the wrong blocks.
 */
describe('corrupt store metadata', () => {
  async function opened() {
    const { db, cleanup } = await memoryBackend.open()
    const store = new ShardStore({ db }, { params: TEST_PARAMS })
    await store.open()
    const built = buildVersion({
      objectId: testObjectId('corrupt-meta'),
      version: 1,
      content: pseudoBytes(1, 5000),
    })
    await storeVersion(store, built)
    const counters = (await store.sublevels.meta.get('counters')) as Record<string, number>
    return { store, built, counters, cleanup }
  }

  it('refuses counters that are negative, fractional or missing', async () => {
    const { store, counters, cleanup } = await opened()
    try {
      const { objects: _, ...missing } = counters
      for (const bad of [{ ...counters, shards: -1 }, { ...counters, bytes_stored: 1.5 }, missing]) {
        await store.sublevels.meta.put('counters', bad)
        await expect(store.stats()).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' })
      }
    } finally {
      await store.close()
      await cleanup()
    }
  })

  it('refuses a manifest whose leaf count is not its number of leaves', async () => {
    const { store, built, cleanup } = await opened()
    try {
      const d = built.record.shards[0]!
      const m = (await store.getManifest(d.shard_id))!
      await store.sublevels.manifests.put(
        fromHex(d.shard_id),
        encodeManifest({ ...m, leafCount: m.leafCount + 1 }),
      )
      await expect(store.getManifest(d.shard_id)).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' })
    } finally {
      await store.close()
      await cleanup()
    }
  })
})
