import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BigNum128, parseBigNum } from '../../src/core/bignum.js'
import { QfsError } from '../../src/core/errors.js'

interface BigNumCase {
  id: string
  kind: string
  input: { op: 'add' | 'sub' | 'mul' | 'div'; a: string; b: string }
  expected?: { result: string }
  error?: string
}

const vectors = JSON.parse(readFileSync(new URL('../vectors/core-public.json', import.meta.url), 'utf8')) as {
  cases: BigNumCase[]
}
const bignumCases = vectors.cases.filter((c) => c.kind === 'bignum')

// ---- An independent oracle: plain bigint, written from PROTOCOL.md without looking at the class. ----
const TEN18 = 10n ** 18n
const TOP = 2n ** 128n - 1n
type Outcome = { raw: bigint } | { code: string }

function inRange(raw: bigint): Outcome {
  if (raw < 0n) return { code: 'UNDERFLOW' }
  if (raw > TOP) return { code: 'OVERFLOW' }
  return { raw }
}

function oracleParse(text: unknown): Outcome {
  if (typeof text !== 'string' || text.length === 0) return { code: 'INVALID_NUMBER' }
  const dot = text.indexOf('.')
  const intText = dot === -1 ? text : text.slice(0, dot)
  const fracText = dot === -1 ? '' : text.slice(dot + 1)
  const allDigits = (s: string) => [...s].every((ch) => ch >= '0' && ch <= '9')
  if (intText.length === 0 || !allDigits(intText)) return { code: 'INVALID_NUMBER' }
  if (intText.length > 1 && intText[0] === '0') return { code: 'INVALID_NUMBER' }
  if (dot !== -1 && (fracText.length === 0 || fracText.length > 18 || !allDigits(fracText))) {
    return { code: 'INVALID_NUMBER' }
  }
  let frac = 0n
  for (let i = 0; i < 18; i++) frac = frac * 10n + BigInt(i < fracText.length ? Number(fracText[i]) : 0)
  return inRange(BigInt(intText) * TEN18 + frac)
}

function oracleText(raw: bigint): string {
  let digits = raw.toString()
  while (digits.length < 19) digits = '0' + digits
  return digits.slice(0, -18) + '.' + digits.slice(-18)
}

function oracleOp(op: string, a: bigint, b: bigint): Outcome {
  switch (op) {
    case 'add':
      return inRange(a + b)
    case 'sub':
      return inRange(a - b)
    case 'mul':
      return inRange((a * b) / TEN18)
    default:
      return b === 0n ? { code: 'DIVISION_BY_ZERO' } : inRange((a * TEN18) / b)
  }
}

function run(op: string, a: BigNum128, b: BigNum128): BigNum128 {
  if (op === 'add') return a.add(b)
  if (op === 'sub') return a.sub(b)
  if (op === 'mul') return a.mul(b)
  return a.div(b)
}

function outcomeOf(fn: () => BigNum128): Outcome {
  try {
    return { raw: fn().raw }
  } catch (err) {
    if (err instanceof QfsError) return { code: err.code }
    throw err
  }
}

// Raw values that stress the edges: 0, 1, 2^128-1, multiples of 10^18 and their neighbours.
const edgeRaw = fc.constantFrom(
  0n,
  1n,
  2n,
  TEN18 - 1n,
  TEN18,
  TEN18 + 1n,
  TOP,
  TOP - 1n,
  TOP / TEN18,
  2n ** 64n,
)
const rawArb = fc.oneof(
  edgeRaw,
  fc.bigInt({ min: 0n, max: TOP }),
  fc.bigInt({ min: 0n, max: 10n ** 24n }),
  fc.bigInt({ min: 0n, max: 2n ** 64n }).map((k) => k * TEN18),
  fc.tuple(fc.bigInt({ min: 1n, max: 2n ** 64n }), fc.constantFrom(-1n, 1n)).map(([k, d]) => k * TEN18 + d),
)
const opArb = fc.constantFrom('add', 'sub', 'mul', 'div')
const RUNS = { seed: 0x5eed128, numRuns: 1000 }

describe('BigNum128 conformance vectors', () => {
  it('has bignum cases', () => expect(bignumCases.length).toBeGreaterThan(0))

  for (const c of bignumCases) {
    it(`${c.id} ${c.input.op}(${JSON.stringify(c.input.a)}, ${JSON.stringify(c.input.b)})`, () => {
      // a is parsed before b, then the operation runs: the first failing step is the one reported.
      const outcome = outcomeOf(() => {
        const a = BigNum128.parse(c.input.a)
        const b = BigNum128.parse(c.input.b)
        return run(c.input.op, a, b)
      })
      if (c.error !== undefined) expect(outcome).toEqual({ code: c.error })
      else expect('raw' in outcome && oracleText(outcome.raw)).toBe(c.expected!.result)
    })
  }
})

describe('BigNum128 text form', () => {
  it.each([
    '2',
    '2.0',
    '2.50',
    '0.5',
    '0',
    '0.000000000000000001',
    '340282366920938463463.374607431768211455',
  ])('parses %j', (text) => {
    expect(BigNum128.parse(text).raw).toBe((oracleParse(text) as { raw: bigint }).raw)
  })

  it.each([
    '02',
    '.5',
    '2.',
    ' 2',
    '2 ',
    '-1',
    '+1',
    '1e3',
    '',
    '.',
    '0x10',
    '1.0000000000000000001',
    '١',
    '1_000',
    '00',
    '00.5',
  ])('rejects %j as INVALID_NUMBER', (text) => {
    expect(() => BigNum128.parse(text)).toThrow(expect.objectContaining({ code: 'INVALID_NUMBER' }))
  })

  it('rejects non-strings as INVALID_NUMBER', () => {
    for (const value of [1, 1n, null, undefined, {}, ['1'], new String('1')]) {
      expect(() => BigNum128.parse(value)).toThrow(expect.objectContaining({ code: 'INVALID_NUMBER' }))
    }
  })

  it.each(['340282366920938463463.374607431768211456', '1' + '0'.repeat(21), '9'.repeat(5000)])(
    'rejects %j above the range as OVERFLOW',
    (text) => {
      expect(() => BigNum128.parse(text)).toThrow(expect.objectContaining({ code: 'OVERFLOW' }))
    },
  )

  it('prints the canonical form', () => {
    expect(BigNum128.parse('1.5').toString()).toBe('1.500000000000000000')
    expect(BigNum128.ZERO.toString()).toBe('0.000000000000000000')
    expect(BigNum128.MAX.toString()).toBe('340282366920938463463.374607431768211455')
    expect(JSON.stringify({ v: BigNum128.ONE })).toBe('{"v":"1.000000000000000000"}')
    expect(parseBigNum('2.50').eq(BigNum128.parse('2.5'))).toBe(true)
  })

  it('round-trips: parse(toString(x)) == x and toString agrees with the oracle', () => {
    fc.assert(
      fc.property(rawArb, (raw) => {
        const x = BigNum128.fromRaw(raw)
        expect(x.toString()).toBe(oracleText(raw))
        expect(BigNum128.parse(x.toString()).raw).toBe(raw)
      }),
      RUNS,
    )
  })

  it('parses random near-miss text exactly like the oracle', () => {
    const textArb = fc.string({
      unit: fc.constantFrom('0', '1', '9', '.', '-', '+', 'e', ' '),
      maxLength: 45,
    })
    fc.assert(
      fc.property(textArb, (text) => {
        expect(outcomeOf(() => BigNum128.parse(text))).toEqual(oracleParse(text))
      }),
      RUNS,
    )
  })
})

describe('BigNum128 arithmetic against the bigint oracle', () => {
  it('add, sub, mul, div give the oracle result or error code', () => {
    fc.assert(
      fc.property(opArb, rawArb, rawArb, (op, a, b) => {
        const got = outcomeOf(() => run(op, BigNum128.fromRaw(a), BigNum128.fromRaw(b)))
        expect(got).toEqual(oracleOp(op, a, b))
      }),
      RUNS,
    )
  })

  it('mulDiv is one exact floor of a*b/c', () => {
    fc.assert(
      fc.property(rawArb, rawArb, rawArb, (a, b, c) => {
        const got = outcomeOf(() =>
          BigNum128.mulDiv(BigNum128.fromRaw(a), BigNum128.fromRaw(b), BigNum128.fromRaw(c)),
        )
        expect(got).toEqual(c === 0n ? { code: 'DIVISION_BY_ZERO' } : inRange((a * b) / c))
      }),
      RUNS,
    )
  })

  it('cmp, eq, min, max and isZero follow the raw order', () => {
    fc.assert(
      fc.property(rawArb, rawArb, (a, b) => {
        const x = BigNum128.fromRaw(a)
        const y = BigNum128.fromRaw(b)
        expect(x.cmp(y)).toBe(a < b ? -1 : a > b ? 1 : 0)
        expect(x.eq(y)).toBe(a === b)
        // Math.min/max do not take bigints.
        const [lo, hi] = a < b ? [a, b] : [b, a]
        expect(x.min(y).raw).toBe(lo)
        expect(x.max(y).raw).toBe(hi)
        expect(x.isZero()).toBe(a === 0n)
      }),
      RUNS,
    )
  })

  it('pins the edges', () => {
    expect(() => BigNum128.MAX.add(BigNum128.fromRaw(1n))).toThrow(
      expect.objectContaining({ code: 'OVERFLOW' }),
    )
    expect(() => BigNum128.ZERO.sub(BigNum128.fromRaw(1n))).toThrow(
      expect.objectContaining({ code: 'UNDERFLOW' }),
    )
    expect(() => BigNum128.ONE.div(BigNum128.ZERO)).toThrow(
      expect.objectContaining({ code: 'DIVISION_BY_ZERO' }),
    )
    expect(BigNum128.MAX.mul(BigNum128.ONE).eq(BigNum128.MAX)).toBe(true)
    expect(BigNum128.MAX.div(BigNum128.ONE).eq(BigNum128.MAX)).toBe(true)
    expect(() => BigNum128.MAX.div(BigNum128.parse('0.999999999999999999'))).toThrow(
      expect.objectContaining({ code: 'OVERFLOW' }),
    )
    expect(BigNum128.fromRaw(1n).mul(BigNum128.parse('0.999999999999999999')).isZero()).toBe(true)
    expect(BigNum128.parse('1').div(BigNum128.parse('3')).toString()).toBe('0.333333333333333333')
  })
})

describe('BigNum128 constructors', () => {
  it('fromRaw checks the range', () => {
    expect(BigNum128.fromRaw(TOP).eq(BigNum128.MAX)).toBe(true)
    expect(() => BigNum128.fromRaw(TOP + 1n)).toThrow(expect.objectContaining({ code: 'OVERFLOW' }))
    expect(() => BigNum128.fromRaw(-1n)).toThrow(expect.objectContaining({ code: 'UNDERFLOW' }))
    expect(() => BigNum128.fromRaw(1 as unknown as bigint)).toThrow(
      expect.objectContaining({ code: 'INVALID_NUMBER' }),
    )
  })

  it('fromInteger takes safe non-negative integers', () => {
    expect(BigNum128.fromInteger(0).isZero()).toBe(true)
    expect(BigNum128.fromInteger(Number.MAX_SAFE_INTEGER).raw).toBe(BigInt(Number.MAX_SAFE_INTEGER) * TEN18)
    expect(BigNum128.fromInteger(TOP / TEN18).raw).toBe((TOP / TEN18) * TEN18)
    expect(() => BigNum128.fromInteger(TOP / TEN18 + 1n)).toThrow(
      expect.objectContaining({ code: 'OVERFLOW' }),
    )
    for (const bad of [
      -1,
      1.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.MAX_SAFE_INTEGER + 1,
      -1n,
      '1',
    ]) {
      expect(() => BigNum128.fromInteger(bad as number)).toThrow(
        expect.objectContaining({ code: 'INVALID_NUMBER' }),
      )
    }
  })

  it('from accepts a value or its text only', () => {
    const x = BigNum128.parse('7.25')
    expect(BigNum128.from(x)).toBe(x)
    expect(BigNum128.from('7.25').eq(x)).toBe(true)
    expect(() => BigNum128.from(7.25)).toThrow(expect.objectContaining({ code: 'INVALID_NUMBER' }))
    expect(() => BigNum128.from({ raw: 1n })).toThrow(expect.objectContaining({ code: 'INVALID_NUMBER' }))
  })

  it('values are immutable', () => {
    const x = BigNum128.parse('1')
    expect(Object.isFrozen(x)).toBe(true)
    expect(() => {
      ;(x as { raw: bigint }).raw = 5n
    }).toThrow(TypeError)
    expect(x.raw).toBe(TEN18)
  })
})
