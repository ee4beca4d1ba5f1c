import { sha3_256 } from '@noble/hashes/sha3.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { objectId, shardId, validateVersion } from '../../src/core/ids.js'
import { errorCode, vectorsOf } from '../helpers/core-vectors.js'

const enc = new TextEncoder()
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

// Oracle on @noble/hashes, with the length prefix written out by hand.
function objectIdOracle(namespace: string, clientId: string): string {
  const parts = [enc.encode(namespace), enc.encode(clientId)].flatMap((b) => {
    const len = new Uint8Array(4)
    new DataView(len.buffer).setUint32(0, b.length, false)
    return [...len, ...b]
  })
  return hex(sha3_256(Uint8Array.from(parts)))
}

describe('objectId', () => {
  it.each(vectorsOf('object_id'))('$id', (c) => {
    const { namespace, client_id } = c.input as { namespace: string; client_id: string }
    expect(objectId(namespace, client_id)).toBe(c.expected!.object_id)
  })

  it('matches the @noble/hashes oracle for any well-formed strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (ns, id) => {
        expect(objectId(ns, id)).toBe(objectIdOracle(ns, id))
      }),
      { seed: 1301, numRuns: 200 },
    )
  })

  it('length-prefixes its fields, so moving the boundary changes the id', () => {
    expect(objectId('ab', 'c')).not.toBe(objectId('a', 'bc'))
  })

  it('rejects non-strings and lone surrogates with INVALID_INPUT', () => {
    for (const [ns, id] of [
      [1, 'x'],
      ['x', null],
      ['\ud800', 'x'],
      ['x', 'a\udfff'],
    ] as const) {
      expect(errorCode(() => objectId(ns as unknown as string, id as unknown as string))).toBe(
        'INVALID_INPUT',
      )
    }
  })
})

describe('shardId', () => {
  it.each(vectorsOf('shard_id'))('$id', (c) => {
    const { object_id, version, shard_index } = c.input as {
      object_id: string
      version: number
      shard_index: number
    }
    expect(shardId(object_id, version, shard_index)).toBe(c.expected!.shard_id)
  })

  it('matches the @noble/hashes oracle over the full version range', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 0, max: 255 }),
        (raw, version, index) => {
          const oid = hex(raw)
          expect(shardId(oid, version, index)).toBe(hex(sha3_256(enc.encode(`${oid}:${version}:${index}`))))
        },
      ),
      { seed: 1302, numRuns: 200 },
    )
  })

  it('rejects a malformed object id, version or index with INVALID_INPUT', () => {
    const oid = 'ab'.repeat(32)
    const bad: [unknown, unknown, unknown][] = [
      ['AB'.repeat(32), 1, 0],
      ['ab'.repeat(31), 1, 0],
      [`${oid}0`, 1, 0],
      [` ${oid.slice(1)}`, 1, 0],
      [42, 1, 0],
      [oid, 0, 0],
      [oid, -1, 0],
      [oid, 1.5, 0],
      [oid, Number.MAX_SAFE_INTEGER + 1, 0],
      [oid, '1', 0],
      [oid, true, 0],
      [oid, 1, -1],
      [oid, 1, 0.5],
      [oid, 1, Number.NaN],
      [oid, 1, '0'],
    ]
    for (const [o, v, i] of bad) {
      expect(
        errorCode(() => shardId(o as string, v as number, i as number)),
        `${o} ${v} ${i}`,
      ).toBe('INVALID_INPUT')
    }
  })
})

describe('validateVersion', () => {
  it('accepts safe integers from 1', () => {
    expect(validateVersion(1)).toBe(1)
    expect(validateVersion(Number.MAX_SAFE_INTEGER)).toBe(Number.MAX_SAFE_INTEGER)
  })

  it('rejects everything else with INVALID_INPUT', () => {
    for (const v of [
      0,
      -1,
      1.5,
      Number.MAX_SAFE_INTEGER + 1,
      Number.POSITIVE_INFINITY,
      '1',
      1n,
      null,
      undefined,
      true,
    ]) {
      expect(errorCode(() => validateVersion(v))).toBe('INVALID_INPUT')
    }
  })
})
