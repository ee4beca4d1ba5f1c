import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { DEFAULT_LIMITS, resolveLimits } from '../../src/net/protocols.js'
import { WriteAdmission, writeDeadlineMs } from '../../src/net/write-admission.js'

const MAX_TIMER_MS = 2 ** 31 - 1

describe('writeDeadlineMs', () => {
  it('is max(minimum, size at the minimum rate), rounded up to the millisecond (property)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 1, max: MAX_TIMER_MS }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        (size, minMs, rate) => {
          const ms = writeDeadlineMs(size, {
            maxConcurrentWrites: 1,
            writeMinDeadlineMs: minMs,
            writeMinBytesPerSecond: rate,
          })
          // Oracle in plain bigint: the smallest whole ms at which `rate` bytes/s has moved `size` bytes.
          const need = BigInt(size) * 1000n
          let bySize = need / BigInt(rate)
          if (bySize * BigInt(rate) < need) bySize++
          const want = bySize > BigInt(minMs) ? bySize : BigInt(minMs)
          expect(ms).toBe(want > BigInt(MAX_TIMER_MS) ? MAX_TIMER_MS : Number(want))
        },
      ),
      { seed: 0x77d1, numRuns: 500 },
    )
  })

  it('gives the defaults 60 s for small writes and 64 KiB/s beyond 3.75 MiB', () => {
    expect(writeDeadlineMs(0, DEFAULT_LIMITS)).toBe(60_000)
    expect(writeDeadlineMs(60 * 65_536, DEFAULT_LIMITS)).toBe(60_000)
    expect(writeDeadlineMs(60 * 65_536 + 1, DEFAULT_LIMITS)).toBe(60_001)
    expect(writeDeadlineMs(64 * 1024 ** 3, DEFAULT_LIMITS)).toBe(1_048_576_000)
  })

  it('refuses non-positive limits as a programming error', () => {
    expect(() => resolveLimits({ maxConcurrentWrites: 0 })).toThrow(TypeError)
    expect(() => resolveLimits({ writeMinBytesPerSecond: 0.5 })).toThrow(TypeError)
  })
})

describe('WriteAdmission', () => {
  afterEach(() => {
    vi.useRealTimers()
  })
  const limits = { maxConcurrentWrites: 2, writeMinDeadlineMs: 1_000, writeMinBytesPerSecond: 1_000 }

  it('takes at most the cap at once, refuses one more with NODE_BUSY, and frees a slot once per release', () => {
    const admission = new WriteAdmission(limits)
    const signal = new AbortController().signal
    const a = admission.admit(0, signal)
    const b = admission.admit(0, signal)
    expect(() => admission.admit(0, signal)).toThrow(expect.objectContaining({ code: 'NODE_BUSY' }))
    a.release()
    a.release()
    expect(admission.activeWrites).toBe(1)
    const c = admission.admit(0, signal)
    expect(() => admission.admit(0, signal)).toThrow(expect.objectContaining({ code: 'NODE_BUSY' }))
    b.release()
    c.release()
    expect(admission.activeWrites).toBe(0)
  })

  it('aborts a write with WRITE_TOO_SLOW at its deadline, not after its content is delivered', () => {
    vi.useFakeTimers()
    const admission = new WriteAdmission(limits)
    const exchange = new AbortController()
    // 5000 bytes at 1000 B/s: 5 s, above the 1 s minimum.
    const late = admission.admit(5_000, exchange.signal)
    const onTime = admission.admit(5_000, exchange.signal)
    vi.advanceTimersByTime(4_999)
    expect(late.signal.aborted).toBe(false)
    onTime.delivered()
    vi.advanceTimersByTime(1)
    expect(late.signal.aborted).toBe(true)
    expect(late.signal.reason).toMatchObject({ code: 'WRITE_TOO_SLOW' })
    expect(onTime.signal.aborted).toBe(false)
    late.release()
    onTime.release()
  })

  it('follows the exchange signal, and drops its listener on release', () => {
    const admission = new WriteAdmission(limits)
    const exchange = new AbortController()
    const released = admission.admit(0, exchange.signal)
    released.release()
    const live = admission.admit(0, exchange.signal)
    const reason = new Error('reset')
    exchange.abort(reason)
    expect(live.signal.reason).toBe(reason)
    expect(released.signal.aborted).toBe(false)
    live.release()
  })
})
