import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Admitted } from '../../src/net/admission.js'
import { ReadTooSlowError, WriteTooSlowError } from '../../src/net/errors.js'
import { DEFAULT_LIMITS } from '../../src/net/protocols.js'
import { ReadAdmission } from '../../src/net/read-admission.js'
import { WriteAdmission } from '../../src/net/write-admission.js'

/**
 * Fair share of public slots under contention (docs/protocol.md 4.2, 4.3): when every slot is taken,
 * a newcomer from another address takes the slot of a slow exchange whose address holds at least
 * two slots more than its own.
 */

// 64 KiB/s minimum rate, so an exchange yields only below 16 x 64 KiB = 1 MiB per second of waiting.
const RATE = 65_536
const YIELD_RATE = 16 * RATE
const limits = {
  maxConcurrentReads: 4,
  readMinDeadlineMs: 3_600_000,
  readMinBytesPerSecond: RATE,
  yieldAfterWaitMs: 10_000,
}

let clock = 0
const now = () => clock
const open = () => new AbortController().signal

beforeEach(() => {
  clock = 0
  // The minimum-rate timers must not fire: this suite is about yielding, not the rate rule.
  vi.useFakeTimers()
})
afterEach(() => {
  expect(vi.getTimerCount()).toBe(0)
  vi.useRealTimers()
})

/** Holds a read that has kept the node waiting `waitedMs` while its client took `bytes`. */
function waited(read: Admitted, waitedMs: number, bytes: number): void {
  read.beginWait()
  clock += waitedMs
  read.endWait(bytes)
}

const yieldedReason = expect.objectContaining({
  code: 'READ_TOO_SLOW',
  message: expect.stringContaining('went to a client from another address'),
})

describe('sharing read slots between addresses', () => {
  it('never holds back a single address: a gateway alone keeps every slot, however slow', () => {
    const admission = new ReadAdmission(limits, now)
    const held = [0, 1, 2, 3].map(() => admission.admit(open(), 'gateway'))
    for (const r of held) waited(r, 60_000, 0)
    expect(() => admission.admit(open(), 'gateway')).toThrow(expect.objectContaining({ code: 'NODE_BUSY' }))
    expect(held.every((r) => !r.signal.aborted)).toBe(true)
    for (const r of held) r.release()
  })

  it('gives a newcomer from another address the slot of the read that kept the node waiting longest', () => {
    const admission = new ReadAdmission(limits, now)
    const held = [0, 1, 2, 3].map(() => admission.admit(open(), 'a'))
    waited(held[0]!, 11_000, 0)
    waited(held[1]!, 30_000, 1_000)
    waited(held[2]!, 12_000, 0)
    const newcomer = admission.admit(open(), 'b')
    expect(held[1]!.signal.reason).toBeInstanceOf(ReadTooSlowError)
    expect(held[1]!.signal.reason).toEqual(yieldedReason)
    expect([held[0], held[2], held[3]].every((r) => !r!.signal.aborted)).toBe(true)
    expect(admission.activeReads).toBe(4)
    // The yielded read's own release, when its exchange ends, frees nothing more.
    held[1]!.release()
    expect(admission.activeReads).toBe(4)
    for (const r of [...held, newcomer]) r.release()
    expect(admission.activeReads).toBe(0)
  })

  it('counts a wait still in progress', () => {
    const admission = new ReadAdmission(limits, now)
    const held = [0, 1, 2, 3].map(() => admission.admit(open(), 'a'))
    held[3]!.beginWait() // a client that never took its header
    clock += 10_000
    const newcomer = admission.admit(open(), 'b')
    expect(held[3]!.signal.reason).toEqual(yieldedReason)
    for (const r of [...held, newcomer]) r.release()
  })

  it('spares a read whose client keeps up 1 MiB per second of waiting, and one not yet waited on long', () => {
    const admission = new ReadAdmission(limits, now)
    const held = [0, 1, 2, 3].map(() => admission.admit(open(), 'a'))
    waited(held[0]!, 20_000, 20 * YIELD_RATE) // exactly the yield rate: kept up
    waited(held[1]!, 9_999, 0) // slow, but not yet a fair hearing
    waited(held[2]!, 40_000, 40 * YIELD_RATE + 1)
    expect(() => admission.admit(open(), 'b')).toThrow(expect.objectContaining({ code: 'NODE_BUSY' }))
    expect(held.every((r) => !r.signal.aborted)).toBe(true)
    waited(held[1]!, 1, 0) // 10 s in all now
    expect(admission.admit(open(), 'b').signal.aborted).toBe(false)
    expect(held[1]!.signal.reason).toEqual(yieldedReason)
    for (const r of held) r.release()
    expect(admission.activeReads).toBe(1)
  })

  it('moves a slot only when shares grow more even: 2 against 1 stays, 3 against 1 gives one', () => {
    const admission = new ReadAdmission({ ...limits, maxConcurrentReads: 3 }, now)
    const a = [admission.admit(open(), 'a'), admission.admit(open(), 'a')]
    const b = admission.admit(open(), 'b')
    for (const r of [...a, b]) waited(r, 60_000, 0)
    expect(() => admission.admit(open(), 'b')).toThrow(expect.objectContaining({ code: 'NODE_BUSY' }))
    // A third address holds nothing: 'a' holds two more than it.
    const c = admission.admit(open(), 'c')
    expect(a[0]!.signal.reason).toEqual(yieldedReason)
    expect(b.signal.aborted).toBe(false)
    for (const r of [...a, b, c]) r.release()
  })
})

describe('a shorter grace', () => {
  it('gives a read its hearing for the grace instead', () => {
    const admission = new ReadAdmission({ ...limits, maxConcurrentReads: 2, readMinDeadlineMs: 2_000 }, now)
    const held = [admission.admit(open(), 'a'), admission.admit(open(), 'a')]
    waited(held[0]!, 1_999, 0)
    expect(() => admission.admit(open(), 'b')).toThrow(expect.objectContaining({ code: 'NODE_BUSY' }))
    waited(held[0]!, 1, 0)
    const newcomer = admission.admit(open(), 'b')
    expect(held[0]!.signal.reason).toEqual(yieldedReason)
    for (const r of [...held, newcomer]) r.release()
  })
})

describe('sharing write slots', () => {
  it('yields a write slot the same way, with WRITE_TOO_SLOW', () => {
    const admission = new WriteAdmission(
      { maxConcurrentWrites: 2, writeMinDeadlineMs: 3_600_000, writeMinBytesPerSecond: RATE },
      now,
    )
    const fast = admission.admit(open(), 'a')
    const trickling = admission.admit(open(), 'a')
    waited(trickling, DEFAULT_LIMITS.yieldAfterWaitMs, 1024)
    expect(() => admission.admit(open(), 'a')).toThrow(expect.objectContaining({ code: 'NODE_BUSY' }))
    const other = admission.admit(open(), 'b')
    expect(trickling.signal.reason).toBeInstanceOf(WriteTooSlowError)
    expect(String(trickling.signal.reason.message)).toContain('delivered 1024 bytes')
    expect(fast.signal.aborted).toBe(false)
    for (const w of [fast, other, trickling]) w.release()
    expect(admission.activeWrites).toBe(0)
  })
})

/** An independent model of the rule, with plain arrays and bigint. */
interface Model {
  id: number
  source: string
  waited: number
  since: number | undefined
  moved: number
}

function modelVictim(holders: Model[], source: string, t: number): number | 'busy' {
  const count = (s: string) => holders.filter((h) => h.source === s).length
  let best: Model | undefined
  let bestWaited = -1
  for (const h of holders) {
    if (count(h.source) - count(source) < 2) continue
    const w = h.waited + (h.since === undefined ? 0 : t - h.since)
    if (w < limits.yieldAfterWaitMs) continue
    if (BigInt(h.moved) * 1000n >= BigInt(YIELD_RATE) * BigInt(w)) continue
    if (w > bestWaited) {
      best = h
      bestWaited = w
    }
  }
  return best === undefined ? 'busy' : best.id
}

const op = fc.oneof(
  fc.record({ kind: fc.constant('admit' as const), source: fc.constantFrom('a', 'b', 'c') }),
  fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('begin' as const), pick: fc.nat() }),
  fc.record({
    kind: fc.constant('end' as const),
    pick: fc.nat(),
    bytes: fc.oneof(fc.constant(0), fc.nat({ max: 64 * YIELD_RATE })),
  }),
  fc.record({ kind: fc.constant('tick' as const), ms: fc.nat({ max: 15_000 }) }),
)

describe('yielding (property against a model)', () => {
  it('admits, refuses and evicts exactly as the model says, and never holds more than the cap', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        clock = 0
        const admission = new ReadAdmission(limits, now)
        const live: Array<{ model: Model; read: Admitted }> = []
        let next = 0
        for (const o of ops) {
          if (o.kind === 'tick') clock += o.ms
          else if (o.kind === 'admit') {
            const full = live.length >= limits.maxConcurrentReads
            const expected = full
              ? modelVictim(
                  live.map((l) => l.model),
                  o.source,
                  clock,
                )
              : undefined
            let read: Admitted
            try {
              read = admission.admit(open(), o.source)
            } catch (err) {
              expect(err).toEqual(expect.objectContaining({ code: 'NODE_BUSY' }))
              expect(expected).toBe('busy')
              continue
            }
            if (full) {
              const victim = live.findIndex((l) => l.model.id === expected)
              expect(victim).toBeGreaterThanOrEqual(0)
              expect(live[victim]!.read.signal.reason).toEqual(yieldedReason)
              live.splice(victim, 1)
            }
            for (const l of live) expect(l.read.signal.aborted).toBe(false)
            live.push({
              model: { id: next++, source: o.source, waited: 0, since: undefined, moved: 0 },
              read,
            })
          } else if (live.length > 0) {
            const l = live[o.pick % live.length]!
            if (o.kind === 'release') {
              l.read.release()
              live.splice(live.indexOf(l), 1)
            } else if (o.kind === 'begin') {
              l.read.beginWait()
              l.model.since ??= clock
            } else {
              l.read.endWait(o.bytes)
              if (l.model.since !== undefined) {
                l.model.waited += clock - l.model.since
                l.model.since = undefined
                l.model.moved += o.bytes
              }
            }
          }
          expect(admission.activeReads).toBe(live.length)
          expect(admission.activeReads).toBeLessThanOrEqual(limits.maxConcurrentReads)
        }
        for (const l of live) l.read.release()
        expect(admission.activeReads).toBe(0)
      }),
      { seed: 0x5ba4e, numRuns: 400 },
    )
  })
})
