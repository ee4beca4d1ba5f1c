import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ATR_BASE_STORAGE_COST_PER_KB, atrCost } from '../../src/core/atr.js'

interface AtrCase {
  id: string
  kind: string
  input: { content_size: number; num_shards: number; replication_factor: number }
  expected?: { atr_cost: string }
  error?: string
}

const vectors = JSON.parse(readFileSync(new URL('../vectors/core-public.json', import.meta.url), 'utf8')) as {
  cases: AtrCase[]
}
const atrCases = vectors.cases.filter((c) => c.kind === 'atr_cost')

const TEN18 = 10n ** 18n
const TOP = 2n ** 128n - 1n

/** PROTOCOL.md's fee in plain bigint: raw = 100e18 * max(1, ceil(size/1024)) * shards * replicas / 12. */
function oracleRaw(size: number, shards: number, replicas: number): bigint | 'OVERFLOW' {
  const s = BigInt(size)
  const kib = s / 1024n + (s % 1024n === 0n ? 0n : 1n)
  const product = 100n * TEN18 * (kib > 1n ? kib : 1n) * BigInt(shards) * BigInt(replicas)
  return product > TOP ? 'OVERFLOW' : product / 12n
}

function text(raw: bigint): string {
  return `${raw / TEN18}.${(raw % TEN18).toString().padStart(18, '0')}`
}

describe('atr_cost conformance vectors', () => {
  it('has atr_cost cases', () => expect(atrCases.length).toBeGreaterThan(0))

  for (const c of atrCases) {
    it(`${c.id} ${JSON.stringify(c.input)}`, () => {
      const run = () => atrCost(c.input.content_size, c.input.num_shards, c.input.replication_factor)
      if (c.error !== undefined) expect(run).toThrow(expect.objectContaining({ code: c.error }))
      else expect(run().toString()).toBe(c.expected!.atr_cost)
    })
  }
})

describe('atrCost', () => {
  it('charges 100 per KiB at 4 shards x 3 replicas, and at least one KiB', () => {
    expect(ATR_BASE_STORAGE_COST_PER_KB.toString()).toBe('100.000000000000000000')
    expect(atrCost(0, 4, 3).toString()).toBe('100.000000000000000000')
    expect(atrCost(1, 4, 3).toString()).toBe('100.000000000000000000')
    expect(atrCost(1024, 4, 3).toString()).toBe('100.000000000000000000')
    expect(atrCost(1025, 4, 3).toString()).toBe('200.000000000000000000')
    expect(atrCost(1, 1, 1).toString()).toBe('8.333333333333333333')
  })

  it('matches the bigint oracle over random sizes and layouts', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
        fc.integer({ min: 1, max: 256 }),
        fc.integer({ min: 1, max: 64 }),
        (size, shards, replicas) => {
          const expected = oracleRaw(size, shards, replicas)
          if (expected === 'OVERFLOW') {
            expect(() => atrCost(size, shards, replicas)).toThrow(
              expect.objectContaining({ code: 'OVERFLOW' }),
            )
          } else {
            expect(atrCost(size, shards, replicas).toString()).toBe(text(expected))
          }
        },
      ),
      { seed: 0xa7c, numRuns: 500 },
    )
  })

  it('reports a product above the BigNum128 range as OVERFLOW', () => {
    const size = Number.MAX_SAFE_INTEGER
    const shards = 2 ** 20
    expect(oracleRaw(size, shards, 1)).toBe('OVERFLOW')
    expect(() => atrCost(size, shards, 1)).toThrow(expect.objectContaining({ code: 'OVERFLOW' }))
  })

  it.each([
    [-1, 4, 3],
    [1.5, 4, 3],
    [Number.MAX_SAFE_INTEGER + 1, 4, 3],
    [Number.NaN, 4, 3],
    ['1024', 4, 3],
    [1024, 0, 3],
    [1024, 4, 0],
    [1024, 4.5, 3],
    [1024, 4, -3],
    [1024, null, 3],
    [1024, 4, Number.POSITIVE_INFINITY],
  ])('rejects (%j, %j, %j) as INVALID_INPUT', (size, shards, replicas) => {
    expect(() => atrCost(size as number, shards as number, replicas as number)).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    )
  })
})
