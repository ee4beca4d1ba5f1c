import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { bytesMod, decodeId, toHex } from '../../src/core/bytes.js'

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
