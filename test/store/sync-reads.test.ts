import { afterEach, describe, expect, it, vi } from 'vitest'
import { equalBytes } from '../../src/core/bytes.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { SYNC_READ_MAX_BYTES } from '../../src/store/reader.js'
import {
  buildVersion,
  collect,
  memoryBackend,
  openedStore,
  pseudoBytes,
  storeVersion,
  testObjectId,
} from './helpers.js'

// Small values are read with the synchronous get (cheaper than a thread-pool round trip); a block
// above SYNC_READ_MAX_BYTES stays asynchronous, so a cold disk read never holds the event loop long.
describe('single-block reads', () => {
  const fixture = openedStore(memoryBackend, DEFAULT_PARAMS, 'each')
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('take a small block with the synchronous get and a large one with the asynchronous, both byte-identical', async () => {
    const block = DEFAULT_PARAMS.blockSizeBytes
    const large = SYNC_READ_MAX_BYTES + 1
    const cases = [
      { name: 'small', shardBytes: 4096, from: 0, last: 4096 },
      { name: 'at the bound', shardBytes: SYNC_READ_MAX_BYTES, from: 0, last: SYNC_READ_MAX_BYTES },
      { name: 'large last block', shardBytes: block + large, from: 1, last: large },
    ]
    for (const [i, c] of cases.entries()) {
      const built = buildVersion({
        objectId: testObjectId(`sync-read-${i}`),
        version: 1,
        content: pseudoBytes(i + 1, c.shardBytes * DEFAULT_PARAMS.numShardsPerObject),
        params: DEFAULT_PARAMS,
      })
      await storeVersion(fixture.store, built)
      const shard = built.shards[0]!
      const sync = vi.spyOn(fixture.store.sublevels.blocks, 'getSync')
      const async = vi.spyOn(fixture.store.sublevels.blocks, 'get')
      const got = await collect(fixture.store.readShard(shard.header.shardId, { fromBlock: c.from }))
      expect(equalBytes(got, shard.bytes.subarray(c.from * block))).toBe(true)
      expect(got.length).toBe(c.last)
      const expectSync = c.last <= SYNC_READ_MAX_BYTES
      expect([sync.mock.calls.length, async.mock.calls.length], c.name).toEqual(expectSync ? [1, 0] : [0, 1])
      vi.restoreAllMocks()
    }
  })
})
