import canonicalize from 'canonicalize'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonicalBytes, canonicalJson, isWellFormedText } from '../../src/core/canonical.js'
import { errorCode } from '../helpers/core-vectors.js'

describe('canonicalJson (RFC 8785)', () => {
  it('serializes the RFC 8785 §3.2.2 example', () => {
    const input = JSON.parse(
      '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],' +
        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
    )
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    )
  })

  it('sorts keys by UTF-16 code units (RFC 8785 §3.2.3 example)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    }
    expect(canonicalJson(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    )
  })

  it('writes -0 as 0 and nests without spaces', () => {
    expect(canonicalJson({ b: [-0, { d: 1, c: 'x' }], a: null })).toBe('{"a":null,"b":[0,{"c":"x","d":1}]}')
  })

  it('encodes the canonical text as UTF-8', () => {
    expect(Buffer.from(canonicalBytes({ k: 'é' })).toString('hex')).toBe(
      Buffer.from('{"k":"é"}').toString('hex'),
    )
  })

  it('rejects values that have no JSON form with INVALID_INPUT', () => {
    const sparse: unknown[] = [1]
    sparse[2] = 3
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    const bad: unknown[] = [
      undefined,
      { a: undefined },
      [undefined],
      () => 1,
      { f: () => 1 },
      Number.NaN,
      Number.POSITIVE_INFINITY,
      [Number.NEGATIVE_INFINITY],
      1n,
      { n: 2n },
      Symbol('s'),
      new Date(0),
      new Uint8Array(2),
      new Map(),
      { toJSON: () => 'x' },
      sparse,
      cyclic,
      'lone \ud800',
      { '\udc00': 1 },
    ]
    for (const value of bad)
      expect(
        errorCode(() => canonicalJson(value)),
        String(value),
      ).toBe('INVALID_INPUT')
  })

  it('accepts shared (non-cyclic) references and null-prototype objects', () => {
    const shared = { x: 1 }
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { b: 2, a: 1 })
    expect(canonicalJson([shared, shared, bare])).toBe('[{"x":1},{"x":1},{"a":1,"b":2}]')
  })

  it('tells well-formed text from text with a lone surrogate', () => {
    expect(isWellFormedText('a\ud83d\ude00b')).toBe(true)
    expect(isWellFormedText('a\ud83db')).toBe(false)
    expect(isWellFormedText('\ude00')).toBe(false)
  })

  // canonicalJson serializes the common case in one walk of its own; the package (RFC 8785's
  // reference behaviour for JSON data) is the oracle, and the errors must still name the path.
  it('agrees with the canonicalize package on arbitrary JSON data, nested or deep', () => {
    const serialize = canonicalize as unknown as (value: unknown) => string
    const deep = (depth: number, leaf: unknown): unknown =>
      depth === 0 ? leaf : depth % 2 === 0 ? [deep(depth - 1, leaf)] : { k: deep(depth - 1, leaf), a: depth }
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer({ min: 0, max: 90 }), (value, depth) => {
        expect(canonicalJson(value)).toBe(serialize(value))
        const nested = deep(depth, value)
        expect(canonicalJson(nested)).toBe(serialize(nested))
      }),
      { seed: 8785, numRuns: 300 },
    )
  })

  it('names where a bad value sits, at any depth', () => {
    const message = (value: unknown) => {
      try {
        canonicalJson(value)
      } catch (err) {
        return (err as Error).message
      }
      return 'no error'
    }
    expect(message({ a: [1, { b: undefined }] })).toBe('$.a[1].b: undefined is not JSON')
    expect(message({ z: 1, a: { x: 'ok', y: Number.NaN } })).toBe('$.a.y: non-finite number')
    let deep: unknown = { bad: 1n }
    for (let i = 0; i < 70; i++) deep = [deep]
    expect(message(deep)).toBe(`$${'[0]'.repeat(70)}.bad: bigint is not JSON`)
  })
})
