import { createHash, hash } from 'node:crypto'
import { toHex } from './bytes.js'

/**
 * The one seam between the protocol and a SHA3-256 implementation. The node uses OpenSSL through
 * `node:crypto` (about 17x faster than pure JS on bulk data); a browser build can alias this module
 * to one built on `@noble/hashes`, which the tests keep as an independent cross-check.
 */
export interface Sha3Hasher {
  update(data: Uint8Array): Sha3Hasher
  digest(): Uint8Array
}

/** `H(x)` of PROTOCOL.md for a whole input; several parts are hashed as their concatenation. */
export function sha3(...parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return asBytes(hash('sha3-256', parts[0]!, 'buffer'))
  const h = createHash('sha3-256')
  for (const p of parts) h.update(p)
  return asBytes(h.digest())
}

export function sha3Hex(...parts: Uint8Array[]): string {
  return toHex(sha3(...parts))
}

/** An incremental SHA3-256 for content that arrives in pieces (never held whole). */
export function createSha3(): Sha3Hasher {
  const h = createHash('sha3-256')
  const hasher: Sha3Hasher = {
    update(data) {
      h.update(data)
      return hasher
    },
    digest() {
      return asBytes(h.digest())
    },
  }
  return hasher
}

function asBytes(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
}
