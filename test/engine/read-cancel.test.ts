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

/**
 * Writes `size` bytes through one node, reads them through another and leaves after the first
 * block; the shard fetches the read asked for, once the cancelled ones had their turn to be released.
 */
async function fetchesOfAReadLeftEarly(name: string, size: number) {
  const h = await inProcessHarness(5)
  try {
    const oid = objectId('read-cancel', name)
    expect((await h.engine(h.nodeIds[0]!).putContent(oid, 1, bytesOf(name, size), meta(1))).ok).toBe(true)
    const fetches = trackFetches(h)
    const read = await h.engine(h.nodeIds[1]!).readContent(oid, 1)
    if (!('content' in read)) throw new Error(JSON.stringify(read))
    for await (const block of read.content) {
      expect(block.length).toBeGreaterThan(0)
      break
    }
    await new Promise((r) => setTimeout(r, 20))
    return fetches
  } finally {
    await h.close()
  }
}

describe('a read that stops early', () => {
  it('closes every shard fetch it started, those read ahead but never reached included', async () => {
    // Four shards of 150 000 bytes: all four are asked for at once (read-ahead).
    const fetches = await fetchesOfAReadLeftEarly('o', 600_000)
    expect(fetches.opened).toBeGreaterThan(1)
    expect([...fetches.open]).toEqual([])
  })

  it('closes the fetches of shards of several blocks read ahead, each past its first block', async () => {
    // Four shards of three blocks: all four within the read-ahead, each asked for past block 0.
    const fetches = await fetchesOfAReadLeftEarly('multi', 12 * 262_144)
    expect(fetches.opened).toBeGreaterThan(4)
    expect([...fetches.open]).toEqual([])
  })
})
