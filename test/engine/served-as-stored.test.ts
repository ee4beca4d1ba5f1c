import { describe, expect, it } from 'vitest'
import { equalBytes } from '../../src/core/bytes.js'
import { objectId } from '../../src/core/ids.js'
import { leafHash } from '../../src/core/merkle.js'
import { blockKey } from '../../src/store/index.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

const BLOCK = 262_144

// A node serves a shard's blocks to a peer as stored; the reader checks each against leaf hashes it
// verified against the record, so a block changed on disk is caught, and skipped, there.
describe('blocks served to a peer', () => {
  it('are served as stored, and the reader skips a block changed on disk', async () => {
    const h = await inProcessHarness(5)
    try {
      const oid = objectId('served', 'as-stored')
      const content = bytesOf('served', 9 * BLOCK + 100)
      const put = await h.engine(h.nodeIds[0]!).putContent(oid, 1, content, meta(1))
      expect(put.ok).toBe(true)
      if (!put.ok) return
      const shard = put.shard_ids[0]!
      const replicas = put.replica_sets[shard]!
      const reader = h.nodeIds.find((n) => !replicas.includes(n)) ?? h.nodeIds[0]!

      // Change block 0 of shard 0 on every replica but one.
      const changed = new Uint8Array(BLOCK).fill(7)
      for (const node of replicas.slice(0, -1)) {
        const store = h.net.node(node).store
        const m = (await store.getManifest(shard))!
        expect(m.leafCount).toBeGreaterThan(1)
        await store.sublevels.blocks.put(blockKey(m.stagingId, 0), changed)
        const served: Uint8Array[] = []
        for await (const block of h.net.node(node).service.fetchShard(shard, 0)) served.push(block)
        expect(served).toHaveLength(m.leafCount)
        expect(equalBytes(served[0]!, changed)).toBe(true)
        expect(equalBytes(leafHash(served[0]!), m.leafHashes[0]!)).toBe(false)
      }

      const got = await h.engine(reader).getContent(oid, 1)
      expect(got.ok).toBe(true)
      if (got.ok) expect(equalBytes(got.content_bytes, content)).toBe(true)
    } finally {
      await h.close()
    }
  })
})
