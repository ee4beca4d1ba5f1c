import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { FrameStream } from '../../src/net/frame-stream.js'
import { nextRequestId, RpcChannels } from '../../src/net/rpc-client.js'

// docs/protocol.md, the `id` row of replica/rpc: "the reference client counts up from 1, wraps
// around to 0 after 2^32 - 1 and skips ids still in flight". Reaching the wrap on a channel takes
// 2^32 requests, so the rule is pinned on the function the channel takes its ids from, and the
// channel's own first ids on a stream.

const U32_MAX = 2 ** 32 - 1
const none = new Set<number>()

describe('replica/rpc request ids (docs/protocol.md, replica/rpc `id`)', () => {
  it('counts up from 1', () => {
    expect(nextRequestId(0, none)).toBe(1)
    expect(nextRequestId(1, none)).toBe(2)
    expect(nextRequestId(U32_MAX - 1, none)).toBe(U32_MAX)
  })

  it('wraps around to 0 after 2^32 - 1', () => {
    expect(nextRequestId(U32_MAX, none)).toBe(0)
  })

  it('skips ids still in flight, across the wrap too', () => {
    expect(nextRequestId(5, new Set([6, 7]))).toBe(8)
    expect(nextRequestId(U32_MAX - 1, new Set([U32_MAX, 0, 1]))).toBe(2)
    // The id just given up by a request still in flight is never taken again while it waits.
    expect(nextRequestId(U32_MAX, new Set([0]))).toBe(1)
  })

  it('gives the first id after `last`, in counting order with the wrap, that is not in flight', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: U32_MAX }),
        fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { maxLength: 30 }),
        (last, offsets) => {
          // In-flight ids just after `last`, so the skip and the wrap are both reached often.
          const inFlight = new Set(offsets.map((o) => (last + o) % 2 ** 32))
          const id = nextRequestId(last, inFlight)
          expect(Number.isInteger(id) && id >= 0 && id <= U32_MAX).toBe(true)
          expect(inFlight.has(id)).toBe(false)
          // Every id between `last` and the one given, counting with the wrap, is in flight.
          const steps = (id - last + 2 ** 32) % 2 ** 32
          expect(steps).toBeGreaterThanOrEqual(1)
          for (let k = 1; k < steps; k++) expect(inFlight.has((last + k) % 2 ** 32)).toBe(true)
        },
      ),
    )
  })

  it('numbers the requests of a new channel 1, 2, 3 on its stream', async () => {
    const sent: Array<{ id: number; op: string }> = []
    const fs = {
      writeJsonWithData: async (value: { id: number; op: string }) => {
        sent.push(value)
      },
      // The remote never answers: every request stays in flight.
      read: () => new Promise(() => {}),
      abort: () => {},
    } as unknown as FrameStream
    const rpc = new RpcChannels(async () => fs, { requestTimeoutMs: 5_000, idleTimeoutMs: 10_000 })
    const asked = ['record', 'prove', 'manifest'].map((op) =>
      rpc.request('n', op as 'record', {}).catch(() => undefined),
    )
    for (let i = 0; i < 100 && sent.length < 3; i++) await new Promise((r) => setTimeout(r, 5))
    expect(sent.map((s) => [s.id, s.op])).toEqual([
      [1, 'record'],
      [2, 'prove'],
      [3, 'manifest'],
    ])
    rpc.close()
    await Promise.all(asked)
  })
})
