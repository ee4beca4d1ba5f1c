import { describe, expect, it, vi } from 'vitest'
import { ask, DEFAULT_SUSPECT_GRACE_MS, type EngineContext, settleAsking } from '../../src/engine/context.js'
import { CutShortError } from '../../src/engine/errors.js'
import { type PeerHealth, RecentFailures } from '../../src/engine/peer-health.js'
import type { NodeTransport } from '../../src/engine/transport.js'
import { frozen, spyHealth } from './cut-short-helpers.js'

/**
 * Two defaults of the phase machinery (context.ts): a context that names no suspect grace gives a
 * suspect peer DEFAULT_SUSPECT_GRACE_MS, not none; and a failure of our own (no QfsError, so
 * INTERNAL) says nothing about the peer, so it does not make it suspect.
 */
function context(health: PeerHealth): EngineContext {
  return {
    nodeId: 'self',
    transport: {} as NodeTransport,
    health,
    timeouts: { requestMs: 60_000, streamIdleMs: 60_000 },
  }
}

describe('a suspect peer, in a context that names no grace', () => {
  it('is cut off DEFAULT_SUSPECT_GRACE_MS after the phase could do without it', async () => {
    vi.useFakeTimers()
    try {
      let cutAt: number | undefined
      const started = Date.now()
      const done = settleAsking<number>(
        context(spyHealth(['s'])),
        ['a', 's'],
        { enough: (got) => got.length >= 1 },
        (node, signal) => {
          if (node === 'a') return Promise.resolve(1)
          return frozen<number>(signal).catch((e: unknown) => {
            cutAt = Date.now() - started
            throw e
          })
        },
      )
      await vi.advanceTimersByTimeAsync(DEFAULT_SUSPECT_GRACE_MS - 1)
      expect(cutAt).toBeUndefined()
      await vi.advanceTimersByTimeAsync(1)
      const results = await done
      expect(cutAt).toBe(DEFAULT_SUSPECT_GRACE_MS)
      expect(results[1]!.error).toBeInstanceOf(CutShortError)
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('ask', () => {
  it('does not make a peer suspect for a failure of our own (INTERNAL), only for one of the peer', async () => {
    const health = new RecentFailures()
    const ctx = context(health)
    await expect(
      ask(ctx, 'p', undefined, async () => {
        throw new TypeError('a bug on our side')
      }),
    ).rejects.toThrow(TypeError)
    expect(health.suspect('p')).toBe(false)
  })
})

describe('the grace of two suspect peers that both answer within it', () => {
  it('is set once, so no timer outlives the phase', async () => {
    vi.useFakeTimers()
    try {
      const ctx = context(spyHealth(['s1', 's2']))
      ctx.timeouts.suspectGraceMs = 1_000
      const later = (value: number, ms: number) => new Promise<number>((r) => setTimeout(() => r(value), ms))
      const done = settleAsking<number>(ctx, ['a', 's1', 's2'], { enough: () => true }, (node) =>
        node === 'a' ? Promise.resolve(1) : node === 's1' ? later(2, 100) : later(3, 200),
      )
      await vi.advanceTimersByTimeAsync(200)
      expect((await done).map((r) => r.value)).toEqual([1, 2, 3])
      // A second grace timer set when s1 answered would leave the first one pending here.
      expect(vi.getTimerCount()).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('a caller that leaves while a suspect peer is out', () => {
  it("aborts every exchange still out with the caller's reason", async () => {
    const controller = new AbortController()
    const reason = new Error('the caller left')
    const done = settleAsking<number>(
      context(spyHealth(['s'])),
      ['a', 's'],
      { signal: controller.signal, enough: () => true },
      (_node, signal) => frozen<number>(signal),
    )
    controller.abort(reason)
    let timer: ReturnType<typeof setTimeout> | undefined
    const hung = new Promise<'hung'>((r) => {
      timer = setTimeout(() => r('hung'), 2_000)
    })
    const results = await Promise.race([done, hung])
    clearTimeout(timer)
    expect(results).not.toBe('hung')
    expect((results as Array<{ error?: unknown }>).map((r) => r.error)).toEqual([reason, reason])
  })
})
