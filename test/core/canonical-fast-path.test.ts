import canonicalize from 'canonicalize'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonicalJson } from '../../src/core/canonical.js'
import { InvalidInputError, QfsError } from '../../src/core/errors.js'

/**
 * canonicalJson serializes the common case in one walk; every input must give what the careful path
 * gives (the path-naming validator, then the `canonicalize` package), rebuilt here from the package
 * and an independent validator with the same rules and messages.
 */
function oldValidate(value: unknown, path: string, ancestors: Set<object>): void {
  if (typeof value === 'string') {
    if (/[\uD800-\uDFFF]/u.test(value)) throw new InvalidInputError(`${path}: string with a lone surrogate`)
    return
  }
  if (typeof value === 'boolean') return
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidInputError(`${path}: non-finite number`)
    return
  }
  if (typeof value !== 'object') throw new InvalidInputError(`${path}: ${typeof value} is not JSON`)
  if (value === null) return
  if (ancestors.has(value)) throw new InvalidInputError(`${path}: cyclic value`)
  ancestors.add(value)
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!Object.hasOwn(value, i)) throw new InvalidInputError(`${path}[${i}]: hole in array`)
      oldValidate(value[i], `${path}[${i}]`, ancestors)
    }
  } else {
    const proto = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null)
      throw new InvalidInputError(`${path}: not a plain object`)
    if (Object.getOwnPropertySymbols(value).length > 0) throw new InvalidInputError(`${path}: symbol key`)
    for (const [key, v] of Object.entries(value)) {
      if (/[\uD800-\uDFFF]/u.test(key)) throw new InvalidInputError(`${path}: key with a lone surrogate`)
      oldValidate(v, `${path}.${key}`, ancestors)
    }
  }
  ancestors.delete(value)
}

// The package's typings declare a default export of its CommonJS function (see src/core/canonical.ts).
const serialize = canonicalize as unknown as (value: unknown) => string | undefined

function oldCanonicalJson(value: unknown): string {
  oldValidate(value, '$', new Set())
  const text = serialize(value)
  if (typeof text !== 'string') throw new InvalidInputError('value has no JSON form')
  return text
}

type Outcome = { text: string } | { code: string; message: string }

function outcome(run: () => string): Outcome {
  try {
    return { text: run() }
  } catch (err) {
    const e = err as Error
    return { code: err instanceof QfsError ? err.code : `raw ${e.name}`, message: e.message }
  }
}

function sameAsOld(value: unknown): void {
  expect(outcome(() => canonicalJson(value))).toEqual(outcome(() => oldCanonicalJson(value)))
}

/** `value` inside `levels` single-element arrays: past 64 levels the slow path serializes it. */
function nest(value: unknown, levels: number): unknown {
  let out = value
  for (let i = 0; i < levels; i++) out = [out]
  return out
}

describe('canonicalJson one-walk path: same output and errors as validator + canonicalize', () => {
  it('keys from JSON.parse named __proto__, toJSON (as data), constructor, and numeric-looking keys', () => {
    for (const text of [
      '{"__proto__":1,"a":2}',
      '{"__proto__":{"x":[1,{"__proto__":null}]}}',
      '{"toJSON":1,"b":2}',
      '{"toJSON":{"toJSON":null}}',
      '{"constructor":{},"hasOwnProperty":[]}',
      '{"2":0,"10":0,"1":0,"01":0,"a":0,"A":0,"":0,"-1":0,"4294967295":0,"4294967294":0}',
    ]) {
      const parsed = JSON.parse(text)
      sameAsOld(parsed)
      // Re-encoding a canonical text gives it back (every received frame takes this path).
      const canonical = canonicalJson(parsed)
      expect(canonicalJson(JSON.parse(canonical))).toBe(canonical)
    }
    expect(canonicalJson(JSON.parse('{"__proto__":1,"a":2}'))).toBe('{"__proto__":1,"a":2}')
    expect(canonicalJson(JSON.parse('{"2":0,"10":0,"1":0,"01":0}'))).toBe('{"01":0,"1":0,"10":0,"2":0}')
  })

  it('numbers in ECMAScript form: -0, 1e21, 5e-324, 1e-7, MAX_SAFE_INTEGER + 2, MAX_VALUE', () => {
    for (const n of [
      -0,
      1e21,
      1e20,
      5e-324,
      1e-7,
      1e-6,
      2 ** 53 + 2,
      Number.MAX_VALUE,
      -Number.MIN_VALUE,
      0.1 + 0.2,
    ])
      sameAsOld({ n, a: [n] })
    expect(canonicalJson([-0, 1e21, 5e-324, 1e-7])).toBe('[0,1e+21,5e-324,1e-7]')
  })

  it('null-prototype, frozen and getter-bearing objects, proxies of plain data', () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { b: 1, a: [true] })
    const frozen = Object.freeze({ z: Object.freeze([1, 2]), y: 'x' })
    const getter = Object.defineProperty({ b: 1 }, 'a', { get: () => 'got', enumerable: true })
    const hidden = Object.defineProperty({ b: 1 }, 'a', { value: 'hidden', enumerable: false })
    const proxy = new Proxy({ b: 2, a: { c: 3 } }, {})
    const proxyArray = new Proxy([1, 'two'], {})
    for (const v of [bare, frozen, getter, hidden, proxy, proxyArray]) sameAsOld(v)
    expect(canonicalJson(bare)).toBe('{"a":[true],"b":1}')
    expect(canonicalJson(hidden)).toBe('{"b":1}')
  })

  it('arrays with extra own properties serialize their elements only', () => {
    const extra = Object.assign([1, 2], { foo: 'bar', '-1': 0 })
    sameAsOld(extra)
    expect(canonicalJson(extra)).toBe('[1,2]')
  })

  it('non-JSON values fail the same way: typed arrays, Date, boxed primitives, symbols, holes, cycles', () => {
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = { back: cyclic }
    const cyclicArray: unknown[] = []
    cyclicArray.push(cyclicArray)
    const sparse: unknown[] = [1]
    sparse[2] = 3
    const bad: unknown[] = [
      new Uint8Array(2),
      { k: new Uint8Array(0) },
      new Date(0),
      [new Number(1)],
      { s: new String('x') },
      { [Symbol('s')]: 1, a: 1 },
      Object.defineProperty({}, Symbol('hidden'), { value: 1, enumerable: false }),
      sparse,
      cyclic,
      cyclicArray,
      { '\ud800': 1 },
      { z: 1, 'a\udc00b': 2 },
      ['\udfff'],
      { b: undefined, a: 1n },
      new Map(),
      Object.create({ inherited: 1 }),
    ]
    for (const v of bad) {
      sameAsOld(v)
      expect(() => canonicalJson(v)).toThrow(InvalidInputError)
    }
    expect(() => canonicalJson(cyclic)).toThrow('$.self.back: cyclic value')
    // An enumerable toJSON function: still INVALID_INPUT, now named for what it is.
    expect(() => canonicalJson({ a: 1, toJSON: () => 'x' })).toThrow('$: has a toJSON method')
  })

  it('around the one-walk depth limit (64 containers) output and error paths do not change', () => {
    for (const levels of [62, 63, 64, 65, 66, 100]) {
      sameAsOld(nest({ b: 1, a: '\u20ac' }, levels))
      sameAsOld(nest({ ok: 1, bad: undefined }, levels))
      sameAsOld(nest({ z: 1, '\udbff': 1 }, levels))
    }
  })

  it('agrees with the old behaviour on arbitrary JSON (fast-check, fixed seed)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        sameAsOld(v)
        const text = canonicalJson(v)
        expect(canonicalJson(JSON.parse(text))).toBe(text)
      }),
      { seed: 0x8785, numRuns: 400 },
    )
  })

  it('agrees on keys with any UTF-16 code units, lone surrogates included (fast-check, fixed seed)', () => {
    const unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c))
    const key = fc.array(unit, { maxLength: 3 }).map((units) => units.join(''))
    fc.assert(
      fc.property(fc.dictionary(key, fc.oneof(fc.integer(), key), { maxKeys: 8 }), (v) => sameAsOld(v)),
      { seed: 0x1f600, numRuns: 400 },
    )
  })
})

/**
 * The package calls `toJSON` whenever `value.toJSON` is a function, while a validator that looks only
 * at enumerable own entries would not see one that is inherited, on an array, or not enumerable: the
 * two paths would disagree, and the answer would depend on how deep the value sits. Such a value has
 * no JSON form of its own, so it is refused, at any depth.
 */
describe('a toJSON method the entries do not show', () => {
  const hiddenToJson = (): Record<string, unknown> =>
    Object.defineProperty({ a: 1 }, 'toJSON', { value: () => 'replaced', enumerable: false })
  const arrayToJson = (): unknown[] => Object.assign([1, 2], { toJSON: () => 'replaced' })
  class Tagged extends Array<number> {
    toJSON(): string {
      return 'replaced'
    }
  }
  const subclassed = (): unknown[] => Tagged.from([1, 2])
  const vanishing = (): Record<string, unknown> =>
    Object.defineProperty({ a: 1 }, 'toJSON', { value: () => undefined, enumerable: false })

  const nanToJson = (): Record<string, unknown> =>
    Object.defineProperty({ a: 1 }, 'toJSON', { value: () => Number.NaN, enumerable: false })
  const all = [hiddenToJson, arrayToJson, subclassed, vanishing, nanToJson]

  it('gives the old text or a typed INVALID_INPUT, never another text and never a raw Error', () => {
    // Old: "replaced" x3, INVALID_INPUT (no JSON form), and a raw Error('NaN is not allowed').
    for (const make of all) {
      const now = outcome(() => canonicalJson(make()))
      const before = outcome(() => oldCanonicalJson(make()))
      if ('text' in now) expect(now).toEqual(before)
      else expect(now.code).toBe('INVALID_INPUT')
    }
  })

  it('does not depend on how deep the value is nested', () => {
    for (const make of all) {
      const shallow = outcome(() => canonicalJson(nest(make(), 1)))
      const deep = outcome(() => canonicalJson(nest(make(), 70)))
      const unwrap = (o: Outcome): Outcome =>
        'text' in o ? { text: o.text.replace(/^\[+/, '').replace(/\]+$/, '') } : { code: o.code, message: '' }
      expect(unwrap(deep)).toEqual(unwrap(shallow))
    }
  })
})
