import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { MAX_DATA_BYTES } from '../../src/net/frames.js'
import { DEFAULT_LIMITS, PUSH_KEEPALIVE_IDLE_FACTOR, resolveLimits } from '../../src/net/protocols.js'
import {
  MAX_REPLICA_PREOPEN_BYTES,
  STALL_WINDOW_BYTES,
  stallLimit,
  WriteAdmission,
  waitAllowanceMs,
} from '../../src/net/write-admission.js'

describe('waitAllowanceMs', () => {
  it('is the grace plus what the delivered bytes earned at the minimum rate, rounded down (property)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 40 }),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        (received, graceMs, rate) => {
          const ms = waitAllowanceMs(received, {
            maxConcurrentWrites: 1,
            writeMinDeadlineMs: graceMs,
            writeMinBytesPerSecond: rate,
          })
          // Oracle in plain bigint: the whole ms `received` bytes buy at `rate` bytes/s, plus the grace.
          expect(BigInt(ms)).toBe(BigInt(graceMs) + (BigInt(received) * 1000n) / BigInt(rate))
        },
      ),
      { seed: 0x77d1, numRuns: 500 },
    )
  })

  it('gives the defaults 60 s of grace and 1 s more per 64 KiB delivered', () => {
    expect(waitAllowanceMs(0, DEFAULT_LIMITS)).toBe(60_000)
    expect(waitAllowanceMs(65_535, DEFAULT_LIMITS)).toBe(60_999)
    expect(waitAllowanceMs(65_536, DEFAULT_LIMITS)).toBe(61_000)
    expect(waitAllowanceMs(64 * 1024 ** 3, DEFAULT_LIMITS)).toBe(60_000 + 1_048_576_000)
  })

  it('stops at the largest safe integer rather than an inexact one', () => {
    const limits = { maxConcurrentWrites: 1, writeMinDeadlineMs: 2 ** 31 - 1, writeMinBytesPerSecond: 1 }
    expect(waitAllowanceMs(Number.MAX_SAFE_INTEGER, limits)).toBe(Number.MAX_SAFE_INTEGER)
    expect(waitAllowanceMs(2 ** 40, limits)).toBe(2 ** 40 * 1000 + 2 ** 31 - 1)
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
  // 1 s of grace, then 1000 bytes per second of waiting.
  const limits = { maxConcurrentWrites: 2, writeMinDeadlineMs: 1_000, writeMinBytesPerSecond: 1_000 }

  it('takes at most the cap at once, refuses one more with NODE_BUSY, and frees a slot once per release', () => {
    const admission = new WriteAdmission(limits, () => Date.now())
    const signal = new AbortController().signal
    const a = admission.admit(signal)
    const b = admission.admit(signal)
    expect(() => admission.admit(signal)).toThrow(expect.objectContaining({ code: 'NODE_BUSY' }))
    a.release()
    a.release()
    expect(admission.activeWrites).toBe(1)
    const c = admission.admit(signal)
    expect(() => admission.admit(signal)).toThrow(expect.objectContaining({ code: 'NODE_BUSY' }))
    b.release()
    c.release()
    expect(admission.activeWrites).toBe(0)
  })

  it('fails a client that sends nothing once the grace is spent waiting', () => {
    vi.useFakeTimers()
    const write = new WriteAdmission(limits, () => Date.now()).admit(new AbortController().signal)
    write.beginWait()
    vi.advanceTimersByTime(999)
    expect(write.signal.aborted).toBe(false)
    vi.advanceTimersByTime(1)
    expect(write.signal.reason).toMatchObject({ code: 'WRITE_TOO_SLOW' })
    write.release()
  })

  it('keeps a client at the minimum rate going however long the content, and fails a trickler early', () => {
    vi.useFakeTimers()
    const admission = new WriteAdmission(limits, () => Date.now())
    const signal = new AbortController().signal
    const steady = admission.admit(signal)
    const trickle = admission.admit(signal)
    let trickleFailedAt: number | undefined
    // Every 500 ms of waiting the steady client delivers 500 bytes (exactly the rate), the other 1 byte.
    for (let step = 1; step <= 200; step++) {
      steady.beginWait()
      trickle.beginWait()
      vi.advanceTimersByTime(500)
      steady.endWait(500)
      trickle.endWait(1)
      if (trickle.signal.aborted && trickleFailedAt === undefined) trickleFailedAt = step * 500
    }
    expect(steady.signal.aborted).toBe(false)
    // Allowed 1000 ms + 1 ms per byte: it falls behind at its third wait (1500 ms > 1000 + 2).
    expect(trickleFailedAt).toBe(1_500)
    expect(trickle.signal.reason).toMatchObject({ code: 'WRITE_TOO_SLOW' })
    steady.release()
    trickle.release()
  })

  it('counts only time spent waiting for the client, not time the node spends elsewhere', () => {
    vi.useFakeTimers()
    const write = new WriteAdmission(limits, () => Date.now()).admit(new AbortController().signal)
    for (let i = 0; i < 10; i++) {
      write.beginWait()
      vi.advanceTimersByTime(90)
      write.endWait(0)
      // The node is busy with replicas for a long while between two reads of the client.
      vi.advanceTimersByTime(60_000)
    }
    expect(write.signal.aborted).toBe(false)
    write.beginWait()
    vi.advanceTimersByTime(99)
    expect(write.signal.aborted).toBe(false)
    vi.advanceTimersByTime(1)
    expect(write.signal.aborted).toBe(true)
    write.release()
  })

  it('follows the exchange signal, and drops its listener and timer on release', () => {
    vi.useFakeTimers()
    const admission = new WriteAdmission(limits, () => Date.now())
    const exchange = new AbortController()
    const released = admission.admit(exchange.signal)
    released.beginWait()
    released.release()
    vi.advanceTimersByTime(10_000)
    expect(released.signal.aborted).toBe(false)
    const live = admission.admit(exchange.signal)
    const reason = new Error('reset')
    exchange.abort(reason)
    expect(live.signal.reason).toBe(reason)
    expect(released.signal.aborted).toBe(false)
    live.release()
  })

  it('is ended at once when admitted under an exchange signal that already ended', () => {
    const admission = new WriteAdmission(limits, () => Date.now())
    const exchange = new AbortController()
    const reason = new Error('reset before the slot')
    exchange.abort(reason)
    const write = admission.admit(exchange.signal)
    expect(write.signal.aborted).toBe(true)
    expect(write.signal.reason).toBe(reason)
    write.release()
  })

  it('lines the stall windows up on whole windows of content, however the frames straddle them', () => {
    vi.useFakeTimers()
    // A day of grace, and 10 bytes per 1000 ms of waiting.
    const stalling = { ...limits, writeMinDeadlineMs: 86_400_000, stall: { bytes: 10, ms: 1_000 } }
    const write = new WriteAdmission(stalling, () => Date.now()).admit(new AbortController().signal)
    // 15 bytes: the first window is full, and 5 bytes of the second (bytes 10 to 19) are in.
    write.beginWait()
    vi.advanceTimersByTime(900)
    write.endWait(15)
    // 5 more complete the second window, 900 ms after it began: a third begins, with its own 1000 ms.
    write.beginWait()
    vi.advanceTimersByTime(900)
    write.endWait(5)
    write.beginWait()
    vi.advanceTimersByTime(900)
    expect(write.signal.aborted).toBe(false)
    vi.advanceTimersByTime(100)
    expect(write.signal.aborted).toBe(true)
    write.release()
  })

  it('fails a client that earned allowance but then stalls inside a window, whatever it earned (stall rule)', () => {
    vi.useFakeTimers()
    // Generous on rate (a day of grace), strict on stalls: 1000 bytes per 500 ms of waiting.
    const stalling = { ...limits, writeMinDeadlineMs: 86_400_000, stall: { bytes: 1_000, ms: 500 } }
    const write = new WriteAdmission(stalling, () => Date.now()).admit(new AbortController().signal)
    // 999 bytes with 400 ms of waiting, spread over many frames: still inside the first window.
    for (let i = 0; i < 999; i++) {
      write.beginWait()
      vi.advanceTimersByTime(i < 400 ? 1 : 0)
      write.endWait(1)
    }
    expect(write.signal.aborted).toBe(false)
    // The byte that completes the window (450 ms in) opens a new one with its own 500 ms.
    write.beginWait()
    vi.advanceTimersByTime(50)
    write.endWait(1)
    write.beginWait()
    vi.advanceTimersByTime(499)
    expect(write.signal.aborted).toBe(false)
    write.endWait(10)
    // Time not spent waiting for the client never counts, here either: 1 ms of this window is left.
    vi.advanceTimersByTime(60_000)
    write.beginWait()
    expect(write.signal.aborted).toBe(false)
    vi.advanceTimersByTime(1)
    expect(write.signal.aborted).toBe(true)
    expect(write.signal.reason).toMatchObject({ code: 'WRITE_TOO_SLOW' })
    expect((write.signal.reason as Error).message).toContain('less than 1000 bytes in 500 ms')
    write.release()
  })

  it("keeps a stalled write's replica streams within their keep-alive limit (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 0, max: MAX_REPLICA_PREOPEN_BYTES }),
        fc.integer({ min: 1, max: MAX_DATA_BYTES }),
        fc.integer({ min: 0, max: STALL_WINDOW_BYTES - 1 }),
        (idle, preopen, block, offset) => {
          const stall = stallLimit(idle)
          expect(stall.bytes).toBe(STALL_WINDOW_BYTES)
          // A stream waits for the bytes before its next block: at most the pre-open window and one
          // block, starting `offset` into a window; each window it touches costs at most stall.ms.
          const touched = Math.ceil((offset + preopen + block) / STALL_WINDOW_BYTES) + 1
          expect(BigInt(touched) * BigInt(stall.ms)).toBeLessThanOrEqual(
            BigInt(idle) * BigInt(PUSH_KEEPALIVE_IDLE_FACTOR),
          )
        },
      ),
      { seed: 0x5a11, numRuns: 500 },
    )
  })
})
