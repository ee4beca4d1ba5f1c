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
  assertJsonValue(value, '$', new Set())
  const text = canonicalize(value)
  if (typeof text !== 'string') throw new InvalidInputError('value has no JSON form')
  return text
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
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!Object.hasOwn(value, i)) throw new InvalidInputError(`${path}[${i}]: hole in array`)
      assertJsonValue(value[i], `${path}[${i}]`, ancestors)
    }
  } else {
    const proto = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null)
      throw new InvalidInputError(`${path}: not a plain object`)
    if (Object.getOwnPropertySymbols(value).length > 0) throw new InvalidInputError(`${path}: symbol key`)
    for (const [key, v] of Object.entries(value)) {
      if (!isWellFormedText(key)) throw new InvalidInputError(`${path}: key with a lone surrogate`)
      assertJsonValue(v, `${path}.${key}`, ancestors)
    }
  }
  ancestors.delete(value)
}
