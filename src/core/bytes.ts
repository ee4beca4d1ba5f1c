import { InvalidInputError } from './errors.js'

const encoder = new TextEncoder()
const HEX_RE = /^(?:[0-9a-f]{2})*$/
const ID_RE = /^[0-9a-f]{64}$/
const U64_MAX = (1n << 64n) - 1n

export function utf8(text: string): Uint8Array {
  return encoder.encode(text)
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** Lower-case hex only: ids have one spelling, so two spellings never name one thing. */
export function fromHex(hex: string, what = 'hex'): Uint8Array {
  if (typeof hex !== 'string' || !HEX_RE.test(hex))
    throw new InvalidInputError(`${what} is not lower-case hex`)
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

export function isId(value: unknown): value is string {
  return typeof value === 'string' && ID_RE.test(value)
}

// Nibble value of each char code for '0'-'9' and 'a'-'f'; -1 for everything else (upper case too).
const NIBBLE = new Int8Array(128).fill(-1)
for (let i = 0; i < 10; i++) NIBBLE[48 + i] = i
for (let i = 0; i < 6; i++) NIBBLE[97 + i] = 10 + i

/**
 * The 32 raw bytes of a 64-character lower-case hex id, or undefined when it is not one. One pass
 * that validates and decodes: the placement hot path calls it a million times a second.
 */
export function decodeId(hex: unknown): Uint8Array | undefined {
  if (typeof hex !== 'string' || hex.length !== 64) return undefined
  // A pooled Buffer (a Uint8Array): hash-wasm takes a Buffer as is, where it wraps a plain view anew.
  const out = Buffer.allocUnsafe(32)
  for (let i = 0; i < 32; i++) {
    const hi = NIBBLE[hex.charCodeAt(2 * i)] ?? -1
    const lo = NIBBLE[hex.charCodeAt(2 * i + 1)] ?? -1
    if (hi < 0 || lo < 0) return undefined
    out[i] = (hi << 4) | lo
  }
  return out
}

/** A 32-byte id from its 64 lower-case hex characters (`INVALID_INPUT` otherwise). */
export function parseId(hex: unknown, what = 'id'): Uint8Array {
  if (!isId(hex)) throw new InvalidInputError(`${what} must be 64 lower-case hex characters`)
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

export function u32(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidInputError(`u32 out of range: ${n}`)
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, n)
  return out
}

export function u64(n: number | bigint): Uint8Array {
  const v = typeof n === 'bigint' ? n : Number.isSafeInteger(n) ? BigInt(n) : -1n
  if (v < 0n || v > U64_MAX) throw new InvalidInputError(`u64 out of range: ${String(n)}`)
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, v)
  return out
}

/** `lp(x) = u32(len(x)) || x`: length-prefixing keeps concatenated fields unambiguous. */
export function lp(bytes: Uint8Array): Uint8Array {
  return concatBytes([u32(bytes.length), bytes])
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0
  for (const p of parts) total += p.length
  const out = new Uint8Array(total)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

/** Byte-wise order, the only order the protocol sorts by (no locale collation). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!
  }
  return a.length - b.length
}

/** Strings in the order of their UTF-8 bytes (differs from JS `<` beyond the BMP). */
export function compareUtf8(a: string, b: string): number {
  return compareBytes(utf8(a), utf8(b))
}

/** `int(bytes) mod m` for a big-endian unsigned integer; exact for any m up to 2^32. */
export function bytesMod(bytes: Uint8Array, m: number): number {
  if (!Number.isInteger(m) || m < 1 || m > 0xffffffff)
    throw new InvalidInputError(`modulus out of range: ${m}`)
  let r = 0
  let i = 0
  // Horner's rule 16 bits at a time: r < 2^32, so r * 65536 + 65535 < 2^48 stays exact in a double.
  if (bytes.length % 2 === 1) r = bytes[i++]! % m
  for (; i < bytes.length; i += 2) r = (r * 65536 + bytes[i]! * 256 + bytes[i + 1]!) % m
  return r
}
