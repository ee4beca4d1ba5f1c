import { sha3_256 } from '@noble/hashes/sha3.js'

/**
 * Test oracle for the vectors' content generator, written apart from src/conformance/content.ts and
 * on @noble/hashes, so the two implementations check each other.
 */
export function vectorContent(spec: { hex?: string; sha3_stream?: string; length?: number }): Uint8Array {
  if (spec.hex !== undefined) return new Uint8Array(Buffer.from(spec.hex, 'hex'))
  const seed = new TextEncoder().encode(spec.sha3_stream ?? '')
  const length = spec.length ?? 0
  const out = new Uint8Array(length)
  const input = new Uint8Array(seed.length + 8)
  input.set(seed, 0)
  const counter = new DataView(input.buffer, seed.length, 8)
  for (let i = 0; i * 32 < length; i++) {
    counter.setBigUint64(0, BigInt(i), false)
    const h = sha3_256(input)
    out.set(h.subarray(0, Math.min(32, length - i * 32)), i * 32)
  }
  return out
}
