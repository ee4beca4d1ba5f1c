import canonicalizeModule from 'canonicalize'
import { utf8 } from './bytes.js'
import { InvalidInputError } from './errors.js'

type Serialize = (input: unknown) => string | undefined
// The package is CommonJS (`module.exports = fn`) while its typings declare a default export; under
// NodeNext the default import is the function itself at run time, but a bundler may wrap it.
const loaded = canonicalizeModule as unknown as Serialize | { default: Serialize }
const canonicalize: Serialize = typeof loaded === 'function' ? loaded : loaded.default

/**
 * RFC 8785 (JCS) canonical JSON. The `canonicalize` package does the serialization (keys sorted by
 * UTF-16 code units, ECMAScript number form); this module first checks that the value IS JSON data,
 * because the package silently drops `undefined`, calls `toJSON` and walks only the present entries
 * of a sparse array: a hash over such output would not be the hash another implementation computes.
 */
export function canonicalJson(value: unknown): string {
  // Every frame sent and received goes through here (a received one is re-encoded to check its
  // spelling), so the common case is one walk that validates and serializes together, building no
  // error paths. Anything it does not take (bad input, very deep nesting) goes the careful way:
  // the validator names the offending path, and the package serializes what passes.
  const text = encodeFast(value, 0)
  if (text !== undefined) return text
  assertJsonValue(value, '$', new Set())
  const slow = canonicalize(value)
  if (typeof slow !== 'string') throw new InvalidInputError('value has no JSON form')
  return slow
}

/** Nesting the fast walk takes; deeper (or cyclic) values go the careful way. */
const FAST_MAX_DEPTH = 64

/**
 * RFC 8785 for values that are plainly JSON data, or undefined for anything else. Strings and numbers
 * take ECMAScript's JSON.stringify form, which is what JCS specifies; keys sort by UTF-16 code units,
 * which is what Array.prototype.sort does with no comparator.
 */
function encodeFast(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case 'string':
      return isWellFormedText(value) ? JSON.stringify(value) : undefined
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : undefined
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object':
      break
    default:
      return undefined
  }
  if (value === null) return 'null'
  if (depth >= FAST_MAX_DEPTH) return undefined
  // The package would serialize what a toJSON method returns, which no other implementation sees.
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return undefined
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) {
      if (!Object.hasOwn(value, i)) return undefined
      const item = encodeFast(value[i], depth + 1)
      if (item === undefined) return undefined
      out += i === 0 ? item : `,${item}`
    }
    return `${out}]`
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return undefined
  if (Object.getOwnPropertySymbols(value).length > 0) return undefined
  const record = value as Record<string, unknown>
  const keys = Object.keys(record)
  // A parsed canonical frame (the re-encode of every received one) already has its keys in order.
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) {
      keys.sort()
      break
    }
  }
  let out = '{'
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    if (!isWellFormedText(key)) return undefined
    const item = encodeFast(record[key], depth + 1)
    if (item === undefined) return undefined
    out += `${i === 0 ? '' : ','}${JSON.stringify(key)}:${item}`
  }
  return `${out}}`
}

/** The UTF-8 bytes of `canonicalJson(value)`: what every protocol hash over JSON takes. */
export function canonicalBytes(value: unknown): Uint8Array {
  return utf8(canonicalJson(value))
}

// In a `u`-flag regex a well-formed surrogate pair is one code point, so only a lone half matches.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u

/** True when the string has a UTF-8 form (no lone surrogate, which TextEncoder would silently replace). */
export function isWellFormedText(text: string): boolean {
  return !LONE_SURROGATE.test(text)
}

function assertJsonValue(value: unknown, path: string, ancestors: Set<object>): void {
  switch (typeof value) {
    case 'string':
      if (!isWellFormedText(value)) throw new InvalidInputError(`${path}: string with a lone surrogate`)
      return
    case 'boolean':
      return
    case 'number':
      if (!Number.isFinite(value)) throw new InvalidInputError(`${path}: non-finite number`)
      return
    case 'object':
      break
    default:
      // undefined, bigint, function, symbol: no JSON form (JSON.stringify would drop or throw).
      throw new InvalidInputError(`${path}: ${typeof value} is not JSON`)
  }
  if (value === null) return
  if (ancestors.has(value)) throw new InvalidInputError(`${path}: cyclic value`)
  ancestors.add(value)
  const array = Array.isArray(value)
  if (!array) {
    const proto = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null)
      throw new InvalidInputError(`${path}: not a plain object`)
    if (Object.getOwnPropertySymbols(value).length > 0) throw new InvalidInputError(`${path}: symbol key`)
  }
  // Own, inherited or non-enumerable alike: JSON.stringify and the package would call it.
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function')
    throw new InvalidInputError(`${path}: has a toJSON method`)
  if (array) {
    for (let i = 0; i < value.length; i++) {
      if (!Object.hasOwn(value, i)) throw new InvalidInputError(`${path}[${i}]: hole in array`)
      assertJsonValue(value[i], `${path}[${i}]`, ancestors)
    }
  } else {
    for (const [key, v] of Object.entries(value)) {
      if (!isWellFormedText(key)) throw new InvalidInputError(`${path}: key with a lone surrogate`)
      assertJsonValue(v, `${path}.${key}`, ancestors)
    }
  }
  ancestors.delete(value)
}
