import { describe, expect, it } from 'vitest'
import { MAX_FRAME_BYTES } from '../../src/net/frames.js'
import { DATA_PROTOCOLS, resolveLimits, yieldAfterMs } from '../../src/net/protocols.js'

describe('protocol limits (net/protocols.ts)', () => {
  it('counts the replica channel among the data protocols: bounded by idle waits, not one deadline', () => {
    expect([...DATA_PROTOCOLS].sort()).toEqual(['read', 'replicaFetch', 'replicaPush', 'replicaRpc', 'write'])
  })

  it('refuses frames larger than the protocol allows, and takes the largest it allows', () => {
    expect(() => resolveLimits({ maxFrameBytes: MAX_FRAME_BYTES + 1 })).toThrow(/maxFrameBytes/)
    expect(resolveLimits({ maxFrameBytes: MAX_FRAME_BYTES }).maxFrameBytes).toBe(MAX_FRAME_BYTES)
  })

  it('bounds requests by a smaller configured frame size', () => {
    expect(resolveLimits({ maxFrameBytes: 1000 }).maxRequestFrameBytes).toBe(1000)
  })

  it('yields a waiting slot after the shorter of the configured wait and the grace', () => {
    expect(yieldAfterMs({ yieldAfterWaitMs: 10_000 }, 500)).toBe(500)
    expect(yieldAfterMs({ yieldAfterWaitMs: 300 }, 500)).toBe(300)
  })
})
