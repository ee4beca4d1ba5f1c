import { describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

/** Counts the shard fetches asked of the transport and which are still open (never returned). */
function trackFetches(h: Awaited<ReturnType<typeof inProcessHarness>>) {
  const fetches = { opened: 0, open: new Set<number>() }
  const fetch = h.net.transport.fetchShard.bind(h.net.transport)
  h.net.transport.fetchShard = (...args) => {
    const id = fetches.opened++
    const inner = fetch(...args)[Symbol.asyncIterator]()
    fetches.open.add(id)
    const iterator: AsyncIterator<Uint8Array> = {
      next: () => inner.next(),
      return: async (value?: unknown) => {
        fetches.open.delete(id)
        return (await inner.return?.(value)) ?? { done: true, value: undefined }
      },
    }
    return { [Symbol.asyncIterator]: () => iterator }
  }
  return fetches
}

describe('a read that stops early', () => {
  it('closes every shard fetch it started, those read ahead but never reached included', async () => {
    const h = await inProcessHarness(5)
    try {
      const oid = objectId('read-cancel', 'o')
      // Four shards of 150 000 bytes: all four are asked for at once (read-ahead).
      expect((await h.engine(h.nodeIds[0]!).putContent(oid, 1, bytesOf('rc', 600_000), meta(1))).ok).toBe(
        true,
      )
      const fetches = trackFetches(h)
      const read = await h.engine(h.nodeIds[1]!).readContent(oid, 1)
      if (!('content' in read)) throw new Error(JSON.stringify(read))
      for await (const block of read.content) {
        expect(block.length).toBeGreaterThan(0)
        break
      }
      // Give the cancelled fetches their turn to be released.
      await new Promise((r) => setTimeout(r, 20))
      expect(fetches.opened).toBeGreaterThan(1)
      expect([...fetches.open]).toEqual([])
    } finally {
      await h.close()
    }
  })

  it('closes the fetches of shards of several blocks read ahead, each past its first block', async () => {
    const h = await inProcessHarness(5)
    try {
      const oid = objectId('read-cancel', 'multi')
      // Four shards of three blocks: all four within the read-ahead, each asked for past block 0.
      expect(
        (await h.engine(h.nodeIds[0]!).putContent(oid, 1, bytesOf('rcm', 12 * 262_144), meta(1))).ok,
      ).toBe(true)
      const fetches = trackFetches(h)
      const read = await h.engine(h.nodeIds[1]!).readContent(oid, 1)
      if (!('content' in read)) throw new Error(JSON.stringify(read))
      for await (const block of read.content) {
        expect(block.length).toBeGreaterThan(0)
        break
      }
      await new Promise((r) => setTimeout(r, 20))
      expect(fetches.opened).toBeGreaterThan(4)
      expect([...fetches.open]).toEqual([])
    } finally {
      await h.close()
    }
  })
})
