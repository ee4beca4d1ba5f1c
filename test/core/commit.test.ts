import { sha3_256 } from '@noble/hashes/sha3.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { generateContent } from '../../src/conformance/content.js'
import { HashCommitBuilder, hashCommit } from '../../src/core/commit.js'
import { createSha3, sha3 } from '../../src/core/hash.js'
import { metadataSeed, normalizeMetadata } from '../../src/core/metadata.js'
import { vectorContent } from '../helpers/content.js'
import { errorCode, vectorsOf } from '../helpers/core-vectors.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

function oracle(content: Uint8Array, schemaVersion: number, seed: Uint8Array): string {
  const version = new Uint8Array(4)
  new DataView(version.buffer).setUint32(0, schemaVersion, false)
  return hex(sha3_256.create().update(content).update(version).update(seed).digest())
}

/** Cuts `data` at the given (sorted, deduplicated) offsets. */
function chunked(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let prev = 0
  for (const p of [...points, data.length]) {
    out.push(data.subarray(prev, p))
    prev = p
  }
  return out
}

describe('H (SHA3-256 seam)', () => {
  it('agrees with @noble/hashes one-shot, multi-part and incremental', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 400 }), { minLength: 1, maxLength: 5 }), (parts) => {
        const whole = Uint8Array.from(parts.flatMap((p) => [...p]))
        const expected = hex(sha3_256(whole))
        expect(hex(sha3(whole))).toBe(expected)
        expect(hex(sha3(...parts))).toBe(expected)
        const h = createSha3()
        for (const p of parts) h.update(p)
        expect(hex(h.digest())).toBe(expected)
      }),
      { seed: 1325, numRuns: 150 },
    )
  })
})

describe('hash_commit vectors', () => {
  it.each(vectorsOf('hash_commit'))('$id', (c) => {
    const content = vectorContent(c.input.content as { hex?: string })
    expect(hex(generateContent(c.input.content))).toBe(hex(content))
    const seed = metadataSeed(normalizeMetadata(c.input.metadata))
    const version = c.input.schema_version as number
    expect(hex(seed)).toBe(c.expected!.metadata_seed)
    expect(hex(hashCommit(content, version, seed))).toBe(c.expected!.hash_commit)
    expect(oracle(content, version, seed)).toBe(c.expected!.hash_commit)
  })
})

describe('HashCommitBuilder', () => {
  it('equals the one-shot hash for every chunking', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (data, cuts, version, seed) => {
          const builder = new HashCommitBuilder()
          for (const chunk of chunked(data, cuts)) builder.update(chunk)
          expect(builder.bytesHashed).toBe(data.length)
          const streamed = hex(builder.digest(version, seed))
          expect(streamed).toBe(hex(hashCommit(data, version, seed)))
          expect(streamed).toBe(oracle(data, version, seed))
        },
      ),
      { seed: 1304, numRuns: 200 },
    )
  })

  it('rejects a bad schema version or seed without consuming the hasher', () => {
    const builder = new HashCommitBuilder().update(new Uint8Array([1, 2, 3]))
    const seed = new Uint8Array(32)
    for (const v of [-1, 2 ** 32, 1.5, Number.NaN])
      expect(errorCode(() => builder.digest(v, seed))).toBe('INVALID_INPUT')
    for (const s of [new Uint8Array(31), new Uint8Array(33), [...seed] as unknown as Uint8Array]) {
      expect(errorCode(() => builder.digest(1, s))).toBe('INVALID_INPUT')
    }
    expect(hex(builder.digest(1, seed))).toBe(oracle(new Uint8Array([1, 2, 3]), 1, seed))
  })

  it('refuses to be used after its digest', () => {
    const builder = new HashCommitBuilder()
    builder.digest(1, new Uint8Array(32))
    expect(errorCode(() => builder.update(new Uint8Array(1)))).toBe('INVALID_INPUT')
    expect(errorCode(() => builder.digest(1, new Uint8Array(32)))).toBe('INVALID_INPUT')
  })

  it('rejects a chunk that is not bytes', () => {
    expect(errorCode(() => new HashCommitBuilder().update('abc' as unknown as Uint8Array))).toBe(
      'INVALID_INPUT',
    )
  })
})
