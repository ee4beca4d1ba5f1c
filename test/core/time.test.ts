import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DEFAULT_EPOCH_TICKS, DeterministicTime, epochOf, epochStartTick } from '../../src/core/time.js'

const MAX = Number.MAX_SAFE_INTEGER
const tickArb = fc.oneof(
  fc.constantFrom(0, 1, MAX, MAX - 1, DEFAULT_EPOCH_TICKS - 1, DEFAULT_EPOCH_TICKS),
  fc.integer({ min: 0, max: 10_000_000 }),
  fc.integer({ min: 0, max: MAX }),
)
const epochTicksArb = fc.oneof(
  fc.constantFrom(1, 2, DEFAULT_EPOCH_TICKS, MAX),
  fc.integer({ min: 1, max: 1000 }),
  fc.integer({ min: 1, max: MAX }),
)
const RUNS = { seed: 0x71c4, numRuns: 1000 }
const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn()
    return undefined
  } catch (err) {
    return (err as { code?: string }).code
  }
}

describe('epochOf and epochStartTick', () => {
  it('epochOf is floor(tick / epochTicks), as in bigint', () => {
    fc.assert(
      fc.property(tickArb, epochTicksArb, (tick, e) => {
        expect(BigInt(epochOf(tick, e))).toBe(BigInt(tick) / BigInt(e))
      }),
      RUNS,
    )
  })

  it('epochStartTick is epoch * epochTicks, and a tick lies in [start(epoch), start(epoch + 1))', () => {
    fc.assert(
      fc.property(tickArb, epochTicksArb, (tick, e) => {
        const epoch = epochOf(tick, e)
        const start = epochStartTick(epoch, e)
        expect(BigInt(start)).toBe(BigInt(epoch) * BigInt(e))
        expect(start <= tick).toBe(true)
        expect(BigInt(tick) < BigInt(start) + BigInt(e)).toBe(true)
      }),
      RUNS,
    )
  })

  it('pins a day of logical ticks by default', () => {
    expect(DEFAULT_EPOCH_TICKS).toBe(86_400)
    expect(epochOf(86_399, DEFAULT_EPOCH_TICKS)).toBe(0)
    expect(epochOf(86_400, DEFAULT_EPOCH_TICKS)).toBe(1)
    expect(epochStartTick(3, DEFAULT_EPOCH_TICKS)).toBe(259_200)
  })

  it('rejects ticks, epochs and epoch lengths outside the safe integers as INVALID_INPUT', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, MAX + 1, '5', null]) {
      expect(codeOf(() => epochOf(bad as number, 10))).toBe('INVALID_INPUT')
      expect(codeOf(() => epochStartTick(bad as number, 10))).toBe('INVALID_INPUT')
    }
    for (const bad of [0, -1, 1.5, MAX + 1, '10']) {
      expect(codeOf(() => epochOf(5, bad as number))).toBe('INVALID_INPUT')
      expect(codeOf(() => epochStartTick(5, bad as number))).toBe('INVALID_INPUT')
    }
    expect(codeOf(() => epochStartTick(MAX, 2))).toBe('INVALID_INPUT')
    expect(epochStartTick(1, MAX)).toBe(MAX)
  })
})

describe('DeterministicTime', () => {
  it('starts at tick 0 with the default epoch length', () => {
    const t = new DeterministicTime()
    expect(t.now()).toBe(0)
    expect(t.epoch()).toBe(0)
    expect(t.epochTicks).toBe(DEFAULT_EPOCH_TICKS)
  })

  it('advances by logical ticks and derives the epoch', () => {
    const t = new DeterministicTime({ epochTicks: 10, tick: 8 })
    expect(t.epoch()).toBe(0)
    expect(t.advance()).toBe(9)
    expect(t.advance(0)).toBe(9)
    expect(t.advance(1)).toBe(10)
    expect(t.epoch()).toBe(1)
    expect(t.advance(25)).toBe(35)
    expect(t.epoch()).toBe(3)
  })

  it('observe is Lamport style: it takes the larger tick and never goes back', () => {
    fc.assert(
      fc.property(tickArb, fc.array(tickArb, { maxLength: 20 }), (start, seen) => {
        const t = new DeterministicTime({ tick: start })
        let expected = BigInt(start)
        for (const s of seen) {
          const before = t.now()
          if (BigInt(s) > expected) expected = BigInt(s)
          expect(t.observe(s)).toBe(Number(expected))
          expect(t.now() >= before).toBe(true)
        }
        expect(BigInt(t.now())).toBe(expected)
      }),
      { seed: 0x71c5, numRuns: 300 },
    )
  })

  it('rejects bad options, steps and observations without moving', () => {
    expect(codeOf(() => new DeterministicTime({ epochTicks: 0 }))).toBe('INVALID_INPUT')
    expect(codeOf(() => new DeterministicTime({ tick: -1 }))).toBe('INVALID_INPUT')
    expect(codeOf(() => new DeterministicTime(null as unknown as undefined))).toBe('INVALID_INPUT')
    const t = new DeterministicTime({ tick: MAX - 1 })
    expect(codeOf(() => t.advance(2))).toBe('INVALID_INPUT')
    expect(codeOf(() => t.advance(-1))).toBe('INVALID_INPUT')
    expect(codeOf(() => t.advance(0.5))).toBe('INVALID_INPUT')
    expect(codeOf(() => t.observe(MAX + 1))).toBe('INVALID_INPUT')
    expect(codeOf(() => t.observe(Number.NaN))).toBe('INVALID_INPUT')
    expect(t.now()).toBe(MAX - 1)
    expect(t.advance()).toBe(MAX)
  })
})
