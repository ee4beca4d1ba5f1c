import { describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { DiskSpaceGuard, type ShardStore } from '../../src/store/index.js'
import { libp2pHarness } from '../net/harness.js'
import { type EngineHarness, type HarnessOptions, inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

/** Every node may hold this many shard bytes; the disk itself is never the limit here. */
const CAPACITY = 24 * 1024
const space: HarnessOptions['space'] = () =>
  new DiskSpaceGuard({ freeBytes: async () => 2 ** 40, reserveBytes: 0, capacityBytes: CAPACITY })

type WithStores = EngineHarness & { store(nodeId: string): ShardStore }
const harnesses: Array<[string, () => Promise<WithStores>]> = [
  [
    'in-process',
    async () => {
      const h = await inProcessHarness(5, { space })
      return { ...h, store: (id) => h.net.node(id).store }
    },
  ],
  [
    'libp2p',
    async () => {
      const h = await libp2pHarness(5, { space })
      return { ...h, store: (id) => h.locals.get(id)!.store }
    },
  ],
]

describe.each(harnesses)('a network out of room (%s)', (_name, make) => {
  it('refuses writes with STORAGE_FULL once the nodes are full, and keeps serving what it holds', async () => {
    const h = await make()
    try {
      const [writer, reader] = [h.nodeIds[0]!, h.nodeIds[4]!]
      const stored: Array<{ oid: string; content: Uint8Array }> = []
      let refusal: Record<string, unknown> | undefined
      for (let i = 0; i < 64 && refusal === undefined; i++) {
        const oid = objectId('full', `o${i}`)
        const content = bytesOf(`full-${i}`, 4096)
        const put = await h.engine(writer).putContent(oid, 1, content, meta(i + 1))
        if (put.ok) stored.push({ oid, content })
        else refusal = put as unknown as Record<string, unknown>
      }
      expect(stored.length).toBeGreaterThan(0)
      expect(refusal).toMatchObject({
        ok: false,
        code: 'STORAGE_FULL',
        error_code: 'SE_ERR_NO_ELIGIBLE_NODES',
        error_detail: expect.stringMatching(/reached [01] of 3 replicas \(STORAGE_FULL/),
      })

      // A streamed (large) object is refused before any of its bytes move.
      const big = await h
        .engine(writer)
        .putContent(objectId('full', 'big'), 1, bytesOf('big', 300_000), meta(99))
      expect(big).toMatchObject({ ok: false, code: 'STORAGE_FULL' })

      // Writes ran one at a time, so no node went past its quota, and every refused stage was taken back.
      for (const id of h.nodeIds) {
        const stats = await h.store(id).stats()
        expect(stats.bytes_stored).toBeLessThanOrEqual(CAPACITY)
        expect(stats.staged).toBe(0)
      }
      expect(await h.store(writer).spaceStatus()).toMatchObject({ capacity_bytes: CAPACITY })
      for (const s of stored) {
        const got = await h.engine(reader).getContent(s.oid, 1)
        expect(got.ok).toBe(true)
        if (got.ok) expect(Buffer.from(got.content_bytes).equals(Buffer.from(s.content))).toBe(true)
      }
    } finally {
      await h.close()
    }
  }, 60_000)

  it('holds the quota under concurrent writes: staged shards count until they commit', async () => {
    const h = await make()
    try {
      const puts = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          h
            .engine(h.nodeIds[i % h.nodeIds.length]!)
            .putContent(objectId('full', `c${i}`), 1, bytesOf(`c-${i}`, 16 * 1024), meta(i + 1)),
        ),
      )
      // 8 x 16 KiB x 3 replicas is 384 KiB against 5 x 24 KiB: most writes must be refused.
      expect(puts.some((p) => !p.ok && p.code === 'STORAGE_FULL')).toBe(true)
      for (const id of h.nodeIds) {
        const stats = await h.store(id).stats()
        expect(stats.bytes_stored).toBeLessThanOrEqual(CAPACITY)
        expect(stats.staged).toBe(0)
      }
    } finally {
      await h.close()
    }
  }, 60_000)
})
