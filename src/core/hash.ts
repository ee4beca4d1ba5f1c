import { createHash, hash } from 'node:crypto'
import { createSHA3 } from 'hash-wasm'
import { toHex } from './bytes.js'

/** Bytes of a SHA3-256 digest. */
export const SHA3_BYTES = 32

/**
 * The one seam between the protocol and a SHA3-256 implementation. The node uses OpenSSL through
 * `node:crypto` (about 17x faster than pure JS on bulk data); a browser build can alias this module
 * to one built on `@noble/hashes`, which the tests keep as an independent cross-check.
 */
export interface Sha3Hasher {
  update(data: Uint8Array): Sha3Hasher
  digest(): Uint8Array
}

// Short inputs (ids, tree nodes, seeds) dominate placement and proofs; a call into OpenSSL costs more
// than the hashing there, so they go to a WebAssembly Keccak (hash-wasm), measured 1.5-3x faster per
// call in this process. Bulk data stays on OpenSSL (~480 MB/s vs ~20 MB/s for pure JS).
const SHORT_INPUT = 512
const shortHasher = await createSHA3(256)
const scratch = Buffer.allocUnsafe(SHORT_INPUT)

/** `H(x)` of PROTOCOL.md for a whole input; several parts are hashed as their concatenation. */
export function sha3(...parts: Uint8Array[]): Uint8Array {
  let total = 0
  for (const p of parts) total += p.length
  if (total <= SHORT_INPUT) {
    // One update from a pooled Buffer: hash-wasm takes Buffers without wrapping them, and one call
    // into WebAssembly costs less than one per part.
    shortHasher.init()
    if (parts.length === 1 && Buffer.isBuffer(parts[0])) {
      shortHasher.update(parts[0])
    } else {
      let at = 0
      for (const p of parts) {
        scratch.set(p, at)
        at += p.length
      }
      shortHasher.update(scratch.subarray(0, total))
    }
    return shortHasher.digest('binary')
  }
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
