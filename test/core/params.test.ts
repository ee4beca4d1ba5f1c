import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DEFAULT_PARAMS, paramsToJson, validateParams } from '../../src/core/params.js'
import { errorCode } from '../helpers/core-vectors.js'

// The mutation pass found nothing in test/core or test/conformance pinning validateParams or
// paramsToJson, though both reach the wire (a snapshot's params) and every write's layout.

// PROTOCOL.md "Constants": the defaults, written out from the table.
const SPEC_DEFAULTS = {
  blockSizeBytes: 262144,
  numShardsPerObject: 4,
  replicationFactor: 3,
  schemaVersion: 1,
}
// Inclusive bounds: blocks addressable, shard and replica counts small, schema_version a u32.
const BOUNDS = {
  blockSizeBytes: [1024, 64 * 1024 * 1024],
  numShardsPerObject: [1, 256],
  replicationFactor: [1, 64],
  schemaVersion: [0, 2 ** 32 - 1],
} as const
type Key = keyof typeof BOUNDS
const KEYS = Object.keys(BOUNDS) as Key[]

describe('validateParams', () => {
  it('fills absent keys with the PROTOCOL.md defaults', () => {
    expect(DEFAULT_PARAMS).toEqual(SPEC_DEFAULTS)
    expect(validateParams({})).toEqual(SPEC_DEFAULTS)
    expect(validateParams({ replicationFactor: 5 })).toEqual({ ...SPEC_DEFAULTS, replicationFactor: 5 })
    expect(Object.isFrozen(validateParams({}))).toBe(true)
  })

  it('takes each bound and refuses one past it, a fraction or a non-number, with INVALID_INPUT', () => {
    for (const key of KEYS) {
      const [min, max] = BOUNDS[key]
      expect(validateParams({ [key]: min })[key]).toBe(min)
      expect(validateParams({ [key]: max })[key]).toBe(max)
      // null is a value given, not an absent key: it takes no default.
      for (const bad of [min - 1, max + 1, min + 0.5, `${min}`, true, Number.NaN, null])
        expect(
          errorCode(() => validateParams({ [key]: bad })),
          `${key}=${String(bad)}`,
        ).toBe('INVALID_INPUT')
    }
  })

  it('accepts exactly the in-range integer sets', () => {
    fc.assert(
      fc.property(
        fc.record(Object.fromEntries(KEYS.map((k) => [k, fc.integer({ min: -2, max: BOUNDS[k][1] + 2 })]))),
        (p) => {
          const inRange = KEYS.every((k) => p[k]! >= BOUNDS[k][0] && p[k]! <= BOUNDS[k][1])
          if (inRange) expect(validateParams(p)).toEqual(p)
          else expect(errorCode(() => validateParams(p))).toBe('INVALID_INPUT')
        },
      ),
      { seed: 0x9a7, numRuns: 300 },
    )
  })

  it('refuses unknown keys (snake_case ones too) and a non-object', () => {
    for (const extra of [{ block_size_bytes: 1024 }, { replicationfactor: 3 }, { __proto__x: 1 }])
      expect(errorCode(() => validateParams({ ...SPEC_DEFAULTS, ...extra }))).toBe('INVALID_INPUT')
    for (const bad of [null, 5, 'params', undefined])
      expect(errorCode(() => validateParams(bad))).toBe('INVALID_INPUT')
  })
})

describe('paramsToJson', () => {
  it('names each field by its snake_case wire name, values untouched', () => {
    fc.assert(
      fc.property(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()), ([a, b, c, d]) => {
        expect(
          paramsToJson({ blockSizeBytes: a, numShardsPerObject: b, replicationFactor: c, schemaVersion: d }),
        ).toEqual({ block_size_bytes: a, num_shards_per_object: b, replication_factor: c, schema_version: d })
      }),
      { seed: 0x9a8, numRuns: 50 },
    )
  })
})
