import { concatBytes, fromHex, u64, utf8 } from '../core/bytes.js'
import { isWellFormedText } from '../core/canonical.js'
import { InvalidInputError } from '../core/errors.js'
import { createSha3 } from '../core/hash.js'

/** Vectors describe content, they do not embed it; generated content is held whole, so it is bounded. */
export const MAX_GENERATED_BYTES = 1 << 30

/**
 * The content generator of PROTOCOL.md "Content generator used by the vectors":
 * `{"hex": "..."}` is literal bytes; `{"sha3_stream": S, "length": N}` is the first N bytes of
 * `H(utf8(S) || u64(0)) || H(utf8(S) || u64(1)) || ...`. Anything else is `INVALID_INPUT`.
 */
export function generateContent(spec: unknown): Uint8Array {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    throw new InvalidInputError('content spec must be an object')
  }
  const s = spec as Record<string, unknown>
  const keys = Object.keys(s).sort().join(',')
  if (keys === 'hex') {
    if (typeof s.hex !== 'string') throw new InvalidInputError('content hex must be a string')
    return fromHex(s.hex, 'content hex')
  }
  if (keys === 'length,sha3_stream') {
    const seed = s.sha3_stream
    const length = s.length
    if (typeof seed !== 'string' || !isWellFormedText(seed))
      throw new InvalidInputError('sha3_stream must be a string')
    if (
      typeof length !== 'number' ||
      !Number.isSafeInteger(length) ||
      length < 0 ||
      length > MAX_GENERATED_BYTES
    ) {
      throw new InvalidInputError(`length must be an integer in 0..${MAX_GENERATED_BYTES}`)
    }
    return sha3Stream(utf8(seed), length)
  }
  throw new InvalidInputError('content spec must be {hex} or {sha3_stream, length}')
}

function sha3Stream(seed: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0, offset = 0; offset < length; i++, offset += 32) {
    const block = createSha3()
      .update(concatBytes([seed, u64(i)]))
      .digest()
    out.set(block.subarray(0, Math.min(32, length - offset)), offset)
  }
  return out
}
