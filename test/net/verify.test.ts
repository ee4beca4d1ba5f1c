import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { QfsError } from '../../src/core/errors.js'
import type { VersionRecord } from '../../src/core/record.js'
import { ContentVerifier } from '../../src/net/verify.js'
import { buildVersion, pseudoBytes, TEST_PARAMS, testObjectId } from '../store/helpers.js'

const SEED = 0x5eed_7e51

/** A record whose roots come from the store tests' RFC 9162 oracle on @noble/hashes (1 KiB blocks). */
function recordFor(name: string, bytes: Uint8Array): VersionRecord {
  return buildVersion({ objectId: testObjectId(name), version: 1, content: bytes }).record
}

function feed(record: VersionRecord, bytes: Uint8Array, cuts: number[]): string {
  const v = new ContentVerifier(record)
  try {
    let start = 0
    for (const cut of [...cuts.filter((c) => c > 0 && c < bytes.length)].sort((a, b) => a - b)) {
      v.update(bytes.subarray(start, cut))
      start = cut
    }
    v.update(bytes.subarray(start))
    v.finish()
    return 'OK'
  } catch (err) {
    if (err instanceof QfsError) return err.code
    throw err
  }
}

describe('ContentVerifier (client-side check of a read against its record)', () => {
  it('accepts exactly the committed content, however it is cut', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 9000 }),
        fc.array(fc.nat({ max: 9000 }), { maxLength: 6 }),
        (size, cuts) => {
          const bytes = pseudoBytes(size + 1, size)
          const record = recordFor('verify', bytes)
          expect(feed(record, bytes, cuts)).toBe('OK')
        },
      ),
      { seed: SEED, numRuns: 60 },
    )
  })

  it('refuses a flipped byte, a missing byte and an extra byte with INTEGRITY_MISMATCH', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9000 }),
        fc.nat(),
        fc.array(fc.nat({ max: 9000 }), { maxLength: 4 }),
        (size, at, cuts) => {
          const bytes = pseudoBytes(size + 7, size)
          const record = recordFor('verify-bad', bytes)
          const flipped = bytes.slice()
          flipped[at % size]! ^= 0x01
          expect(feed(record, flipped, cuts)).toBe('INTEGRITY_MISMATCH')
          expect(feed(record, bytes.subarray(0, size - 1), cuts)).toBe('INTEGRITY_MISMATCH')
          expect(feed(record, Uint8Array.of(...bytes, 0), cuts)).toBe('INTEGRITY_MISMATCH')
        },
      ),
      { seed: SEED, numRuns: 40 },
    )
  })

  it('catches a bad shard as soon as that shard is complete, before the end', () => {
    const bytes = pseudoBytes(99, 8000)
    const record = recordFor('verify-early', bytes)
    const bad = bytes.slice()
    bad[10]! ^= 0x80
    const v = new ContentVerifier(record)
    const firstShard = record.shards[0]!.length
    v.update(bad.subarray(0, firstShard - 1))
    expect(() => v.update(bad.subarray(firstShard - 1, firstShard))).toThrow(/Merkle root/)
  })
})

describe('ContentVerifier against fields of the record besides its roots', () => {
  const bytes = pseudoBytes(5, 5000)

  it("hashes with the record's schema version, not the protocol's default", () => {
    const built = buildVersion({
      objectId: testObjectId('verify-schema'),
      version: 1,
      content: bytes,
      params: { ...TEST_PARAMS, schemaVersion: 2 },
    })
    expect(built.record.schema_version).toBe(2)
    expect(feed(built.record, bytes, [1000])).toBe('OK')
  })

  it("refuses a shard whose leaf count is not the record's, its root right", () => {
    const record = structuredClone(recordFor('verify-leaf-count', bytes))
    record.shards[1]!.leaf_count += 1
    expect(feed(record, bytes, [])).toBe('INTEGRITY_MISMATCH')
  })

  it('refuses the right bytes under another hash_commit, or under metadata the commit does not bind', () => {
    const record = recordFor('verify-commit', bytes)
    expect(feed({ ...record, hash_commit: 'ab'.repeat(32) }, bytes, [])).toBe('INTEGRITY_MISMATCH')
    const tagged = { ...record, metadata: { ...record.metadata, tags: ['forged'] } }
    expect(feed(tagged, bytes, [2000])).toBe('INTEGRITY_MISMATCH')
  })
})
