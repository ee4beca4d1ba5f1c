import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { bytesMod, decodeId, equalBytes, fromHex, toHex, u32, u64 } from '../../src/core/bytes.js'
import { errorCode } from '../helpers/core-vectors.js'

describe('decodeId', () => {
  it('decodes exactly the 64-character lower-case hex ids, as Buffer does', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (raw) => {
        const hex = toHex(raw)
        expect(decodeId(hex)).toEqual(Buffer.from(raw))
        expect(
          decodeId(hex.toUpperCase() === hex ? `${hex.slice(0, 63)}g` : hex.toUpperCase()),
        ).toBeUndefined()
      }),
      { seed: 11, numRuns: 300 },
    )
  })

  it('refuses every other length, character and type', () => {
    const ok = 'ab'.repeat(32)
    for (const bad of [
      ok.slice(1),
      `${ok}0`,
      `${ok.slice(0, 63)}G`,
      `${ok.slice(0, 63)} `,
      `${ok.slice(0, 63)}é`,
      42,
      null,
    ]) {
      expect(decodeId(bad)).toBeUndefined()
    }
  })
})

describe('bytesMod', () => {
  // Horner's rule in doubles is exact only while r * 65536 stays below 2^53, so the bound is a
  // contract: the mutation pass found 2^32 and beyond accepted with no test noticing.
  it('refuses a modulus outside 1..2^32 - 1 with INVALID_INPUT', () => {
    const digest = new Uint8Array(32).fill(0xff)
    expect(bytesMod(digest, 0xffffffff)).toBe(Number((2n ** 256n - 1n) % 0xffffffffn))
    for (const m of [0, -1, 2 ** 32, 2 ** 33 - 1, 1.5, Number.NaN])
      expect(errorCode(() => bytesMod(digest, m))).toBe('INVALID_INPUT')
  })

  it('equals the bigint remainder for any length (odd ones too) and modulus up to 2^32 - 1', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 1, max: 0xffffffff }), (bytes, m) => {
        const n = bytes.length === 0 ? 0n : BigInt(`0x${toHex(bytes)}`)
        expect(bytesMod(bytes, m)).toBe(Number(n % BigInt(m)))
      }),
      { seed: 12, numRuns: 1000 },
    )
  })
})

// PROTOCOL.md notation: u32/u64 are unsigned big-endian of 4 and 8 bytes. The oracle is the bigint's
// own hex, padded; the mutation pass found the top values (2^32 - 1, 2^64 - 1) unpinned.
describe('u32 and u64', () => {
  const beHex = (v: bigint, bytes: number) => v.toString(16).padStart(bytes * 2, '0')

  it('encode every value of their range big-endian, the top value included', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 32n - 1n }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        (a, b) => {
          expect(toHex(u32(Number(a)))).toBe(beHex(a, 4))
          expect(toHex(u64(b))).toBe(beHex(b, 8))
        },
      ),
      { seed: 31, numRuns: 300 },
    )
    expect(toHex(u32(0xffffffff))).toBe('ffffffff')
    expect(toHex(u64(2n ** 64n - 1n))).toBe('ffffffffffffffff')
    expect(toHex(u64(Number.MAX_SAFE_INTEGER))).toBe(beHex(2n ** 53n - 1n, 8))
  })

  it('refuse values outside the range with INVALID_INPUT', () => {
    for (const n of [-1, 2 ** 32, 1.5, Number.NaN]) expect(errorCode(() => u32(n))).toBe('INVALID_INPUT')
    // A number above 2^53 - 1 may already be a rounded value, so only a bigint carries such epochs.
    for (const n of [-1, -1n, 2n ** 64n, 2 ** 53, 2 ** 64, 1.5, Number.NaN])
      expect(errorCode(() => u64(n))).toBe('INVALID_INPUT')
  })
})

describe('fromHex', () => {
  it('decodes lower-case hex as Buffer does and refuses any other spelling', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (raw) => {
        const hex = Buffer.from(raw).toString('hex')
        expect(fromHex(hex)).toEqual(new Uint8Array(raw))
        // One spelling per byte string: upper case and odd lengths are refused, not folded.
        if (/[a-f]/.test(hex)) expect(errorCode(() => fromHex(hex.toUpperCase()))).toBe('INVALID_INPUT')
        expect(errorCode(() => fromHex(`${hex}0`))).toBe('INVALID_INPUT')
      }),
      { seed: 32, numRuns: 300 },
    )
    for (const bad of ['AB', 'zz', ' ab', 7])
      expect(errorCode(() => fromHex(bad as string))).toBe('INVALID_INPUT')
  })
})

describe('equalBytes', () => {
  it('agrees with Buffer.equals, a prefix included', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
        expect(equalBytes(a, b)).toBe(Buffer.from(a).equals(Buffer.from(b)))
        // A strict prefix is not equal, whichever side is shorter.
        const ab = Uint8Array.from([...a, ...b, 0])
        expect(equalBytes(a, ab)).toBe(false)
        expect(equalBytes(ab, a)).toBe(false)
      }),
      { seed: 33, numRuns: 300 },
    )
  })
})
