import { sha3_256 } from '@noble/hashes/sha3.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { concatBytes } from '../../src/core/bytes.js'
import { createSha3, sha3 } from '../../src/core/hash.js'

// Both back ends of the seam (WebAssembly for short inputs, OpenSSL for long ones) against noble.
describe('sha3 seam', () => {
  it('matches @noble/hashes for every length around the short/long boundary', () => {
    for (let n = 0; n <= 1100; n += n < 480 || n > 540 ? 37 : 1) {
      const data = new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff)
      expect(sha3(data)).toEqual(sha3_256(data))
    }
  })

  it('hashes several parts as their concatenation, and incrementally', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 700 }), { maxLength: 5 }), (parts) => {
        const whole = sha3_256(concatBytes(parts))
        expect(sha3(...parts)).toEqual(whole)
        const h = createSha3()
        for (const p of parts) h.update(p)
        expect(h.digest()).toEqual(whole)
      }),
      { seed: 7, numRuns: 300 },
    )
  })

  it('hashes several parts as their concatenation on both back ends, Buffers or not', () => {
    // Hashing only the first part survived a mutation pass, on the OpenSSL path and on the
    // pooled-Buffer shortcut (decodeId hands out Buffers): fast-check then kept arrays near 10
    // bytes (test/helpers/fast-check-setup.ts now lets them reach their maxLength), and no property
    // passed Buffers.
    const part = fc.tuple(fc.uint8Array({ maxLength: 700, size: 'max' }), fc.boolean())
    fc.assert(
      fc.property(fc.array(part, { minLength: 2, maxLength: 4 }), (spec) => {
        const parts = spec.map(([bytes, asBuffer]) => (asBuffer ? Buffer.from(bytes) : bytes))
        expect(sha3(...parts)).toEqual(sha3_256(concatBytes(parts)))
      }),
      { seed: 8, numRuns: 200 },
    )
    for (const total of [512, 513]) {
      const first = Buffer.alloc(10, 1)
      const rest = new Uint8Array(total - 10).fill(2)
      expect(sha3(first, rest)).toEqual(sha3_256(concatBytes([first, rest])))
    }
  })

  it('returns a fresh array each call (the short-input hasher is shared)', () => {
    const a = sha3(new Uint8Array([1]))
    const b = sha3(new Uint8Array([2]))
    expect(a).not.toEqual(b)
    expect(a).toEqual(sha3_256(new Uint8Array([1])))
  })
})
