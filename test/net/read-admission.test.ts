import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { minRateAllowanceMs } from '../../src/net/admission.js'
import { DEFAULT_LIMITS, resolveLimits } from '../../src/net/protocols.js'
import { ReadAdmission } from '../../src/net/read-admission.js'
import { waitAllowanceMs } from '../../src/net/write-admission.js'

describe('read limits', () => {
  it('default to 32 reads, 60 s of grace and 64 KiB/s, and refuse non-positive values', () => {
    expect(DEFAULT_LIMITS).toMatchObject({
      maxConcurrentReads: 32,
      readMinDeadlineMs: 60_000,
      readMinBytesPerSecond: 65_536,
    })
    expect(() => resolveLimits({ readMinDeadlineMs: 0 })).toThrow(TypeError)
    expect(() => resolveLimits({ readMinBytesPerSecond: 1.5 })).toThrow(TypeError)
  })

  it('share the write rule: grace plus what the bytes earned at the minimum rate (property)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 40 }),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        (moved, graceMs, rate) => {
          const ms = minRateAllowanceMs(moved, { graceMs, minBytesPerSecond: rate })
          expect(BigInt(ms)).toBe(BigInt(graceMs) + (BigInt(moved) * 1000n) / BigInt(rate))
          const write = { maxConcurrentWrites: 1, writeMinDeadlineMs: graceMs, writeMinBytesPerSecond: rate }
          expect(waitAllowanceMs(moved, write)).toBe(ms)
        },
      ),
      { seed: 0x4ead, numRuns: 300 },
    )
  })
})

describe('ReadAdmission', () => {
  afterEach(() => {
    vi.useRealTimers()
  })
  // 1 s of grace, then 1000 bytes per second of waiting.
  const limits = { maxConcurrentReads: 2, readMinDeadlineMs: 1_000, readMinBytesPerSecond: 1_000 }

  it('takes at most the cap at once, refuses one more with NODE_BUSY, and frees a slot once per release', () => {
    const admission = new ReadAdmission({ ...limits, maxConcurrentReads: 3 }, () => Date.now())
    const signal = new AbortController().signal
    const held = [0, 1, 2].map(() => admission.admit(signal))
    const busy = expect.objectContaining({
      code: 'NODE_BUSY',
      message: expect.stringContaining('serves 3 reads'),
    })
    expect(() => admission.admit(signal)).toThrow(busy)
    for (let i = 0; i < 3; i++) held[1]!.release()
    expect(admission.activeReads).toBe(2)
    held.push(admission.admit(signal))
    expect(() => admission.admit(signal)).toThrow(busy)
    for (const read of held) read.release()
    expect(admission.activeReads).toBe(0)
  })

  it('fails exactly when the waiting passes the grace plus what the bytes taken earned, counting only waits (property)', () => {
    vi.useFakeTimers()
    // Steps of [time the node spends elsewhere, time it waits for the client, bytes then taken].
    const step = fc.tuple(fc.nat({ max: 5_000 }), fc.nat({ max: 2_000 }), fc.nat({ max: 3_000 }))
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const read = new ReadAdmission(limits, () => Date.now()).admit(new AbortController().signal)
        // Oracle in plain integers: waited W and taken R before each wait; the wait that reaches
        // 1000 + floor(R * 1000 / 1000) ms of waiting in all is the one that fails.
        let waited = 0
        let taken = 0
        let failsAt: number | undefined
        steps.forEach(([, wait, bytes], i) => {
          if (failsAt !== undefined) return
          if (waited + wait >= 1_000 + taken) failsAt = i
          waited += wait
          taken += bytes
        })
        let failedAt: number | undefined
        steps.forEach(([elsewhere, wait, bytes], i) => {
          if (failedAt !== undefined) return
          vi.advanceTimersByTime(elsewhere)
          read.beginWait()
          vi.advanceTimersByTime(wait)
          if (read.signal.aborted) failedAt = i
          else read.endWait(bytes)
        })
        read.release()
        expect(failedAt).toBe(failsAt)
        if (failsAt !== undefined) expect(read.signal.reason).toMatchObject({ code: 'READ_TOO_SLOW' })
        expect(vi.getTimerCount()).toBe(0)
      }),
      { seed: 0x5107, numRuns: 300 },
    )
  })

  it('has no stall window: a client that earned allowance may spend it on one long wait', () => {
    vi.useFakeTimers()
    const read = new ReadAdmission(limits, () => Date.now()).admit(new AbortController().signal)
    read.beginWait()
    read.endWait(60_000)
    // 1 s of grace and 60 s earned, in one wait.
    read.beginWait()
    vi.advanceTimersByTime(60_999)
    expect(read.signal.aborted).toBe(false)
    vi.advanceTimersByTime(1)
    expect(read.signal.reason).toMatchObject({ code: 'READ_TOO_SLOW' })
    expect((read.signal.reason as Error).message).toBe(
      "the client took 60000 bytes in 61000 ms of waiting, below the node's minimum rate",
    )
    read.release()
  })

  it('frees the slot and leaves no timer on release, mid-wait or after a failure', () => {
    vi.useFakeTimers()
    const admission = new ReadAdmission({ ...limits, maxConcurrentReads: 1 }, () => Date.now())
    const waiting = admission.admit(new AbortController().signal)
    waiting.beginWait()
    expect(vi.getTimerCount()).toBe(1)
    waiting.release()
    expect([vi.getTimerCount(), admission.activeReads]).toEqual([0, 0])
    vi.advanceTimersByTime(10_000)
    expect(waiting.signal.aborted).toBe(false)
    const failed = admission.admit(new AbortController().signal)
    failed.beginWait()
    vi.advanceTimersByTime(1_000)
    expect(failed.signal.reason).toMatchObject({ code: 'READ_TOO_SLOW' })
    // The slot is held until the exchange lets go of it, then free at once.
    expect(() => admission.admit(new AbortController().signal)).toThrow(
      expect.objectContaining({ code: 'NODE_BUSY' }),
    )
    failed.release()
    expect([vi.getTimerCount(), admission.activeReads]).toEqual([0, 0])
    admission.admit(new AbortController().signal).release()
  })
})
