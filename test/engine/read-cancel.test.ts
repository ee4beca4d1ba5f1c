import { describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

describe('a read that stops early', () => {
  it('closes every shard fetch it started, those read ahead but never reached included', async () => {
    const h = await inProcessHarness(5)
    try {
      const oid = objectId('read-cancel', 'o')
      // Four shards of 150 000 bytes: all four are asked for at once (read-ahead).
      expect((await h.engine(h.nodeIds[0]!).putContent(oid, 1, bytesOf('rc', 600_000), meta(1))).ok).toBe(
        true,
      )
      const open = new Set<number>()
      let opened = 0
      const fetch = h.net.transport.fetchShard.bind(h.net.transport)
      h.net.transport.fetchShard = (...args) => {
        const id = opened++
        const inner = fetch(...args)[Symbol.asyncIterator]()
        open.add(id)
        const iterator: AsyncIterator<Uint8Array> = {
          next: () => inner.next(),
          return: async (value?: unknown) => {
            open.delete(id)
            return (await inner.return?.(value)) ?? { done: true, value: undefined }
          },
        }
        return { [Symbol.asyncIterator]: () => iterator }
      }
      const read = await h.engine(h.nodeIds[1]!).readContent(oid, 1)
      if (!('content' in read)) throw new Error(JSON.stringify(read))
      for await (const block of read.content) {
        expect(block.length).toBeGreaterThan(0)
        break
      }
      // Give the cancelled fetches their turn to be released.
      await new Promise((r) => setTimeout(r, 20))
      expect(opened).toBeGreaterThan(1)
      expect([...open]).toEqual([])
    } finally {
      await h.close()
    }
  })
})
