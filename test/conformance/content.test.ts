import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { generateContent, MAX_GENERATED_BYTES } from '../../src/conformance/content.js'
import { vectorContent } from '../helpers/content.js'
import { errorCode } from '../helpers/core-vectors.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

describe('generateContent', () => {
  it('agrees with the @noble/hashes generator for any seed and length', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 12 }), fc.nat({ max: 400 }), (seed, length) => {
        const spec = { sha3_stream: seed, length }
        const bytes = generateContent(spec)
        expect(bytes).toHaveLength(length)
        expect(hex(bytes)).toBe(hex(vectorContent(spec)))
      }),
      { seed: 1324, numRuns: 200 },
    )
  })

  it('is a prefix-stable stream: a shorter length is a prefix of a longer one', () => {
    const long = generateContent({ sha3_stream: 'pub-x', length: 1000 })
    expect(hex(generateContent({ sha3_stream: 'pub-x', length: 33 }))).toBe(hex(long.subarray(0, 33)))
  })

  it('decodes literal hex', () => {
    expect([...generateContent({ hex: '00ff10' })]).toEqual([0, 255, 16])
    expect(generateContent({ hex: '' })).toHaveLength(0)
  })

  it('rejects anything else with INVALID_INPUT', () => {
    for (const spec of [
      null,
      'abc',
      [],
      {},
      { hex: 'abc' },
      { hex: 'zz' },
      { hex: 12 },
      { hex: '00', length: 1 },
      { sha3_stream: 's' },
      { sha3_stream: 's', length: -1 },
      { sha3_stream: 's', length: 1.5 },
      { sha3_stream: 's', length: '3' },
      { sha3_stream: 's', length: MAX_GENERATED_BYTES + 1 },
      { sha3_stream: 7, length: 3 },
      { sha3_stream: '\ud800', length: 3 },
      { sha3_stream: 's', length: 3, extra: true },
    ]) {
      expect(
        errorCode(() => generateContent(spec)),
        JSON.stringify(spec),
      ).toBe('INVALID_INPUT')
    }
  })
})
