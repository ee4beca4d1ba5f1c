import { sha3_256 } from '@noble/hashes/sha3.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  metadataSeed,
  normalizeMetadata,
  normalizeTag,
  type StorageMetadata,
} from '../../src/core/metadata.js'
import { errorCode, vectorsOf } from '../helpers/core-vectors.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const base = { author_node_id: 'node-1', created_at_tick: 7 }

// Independent seed: JSON.stringify with the keys written in code-unit order by hand.
function seedOracle(m: StorageMetadata): string {
  const stub = m.aegis_telemetry_stub
  const ordered = {
    aegis_telemetry_stub: stub && {
      at_epoch: stub.at_epoch,
      latency_band: stub.latency_band,
      node_id: stub.node_id,
      proof_result: stub.proof_result,
    },
    atr_fee_events: m.atr_fee_events,
    author_node_id: m.author_node_id,
    created_at_tick: m.created_at_tick,
    openagi_score: m.openagi_score,
    tags: m.tags,
  }
  return hex(sha3_256(new TextEncoder().encode(JSON.stringify(ordered))))
}

describe('metadata vectors', () => {
  it.each(vectorsOf('metadata_seed'))('$id', (c) => {
    if (c.error !== undefined) {
      expect(errorCode(() => normalizeMetadata(c.input.metadata))).toBe(c.error)
      return
    }
    const normalized = normalizeMetadata(c.input.metadata)
    expect(normalized).toEqual(c.expected!.normalized)
    expect(hex(metadataSeed(normalized))).toBe(c.expected!.metadata_seed)
    expect(seedOracle(normalized)).toBe(c.expected!.metadata_seed)
  })
})

describe('normalizeMetadata', () => {
  it('fills every absent key with its default', () => {
    expect(normalizeMetadata(base)).toEqual({
      author_node_id: 'node-1',
      created_at_tick: 7,
      tags: [],
      openagi_score: null,
      atr_fee_events: [],
      aegis_telemetry_stub: null,
    })
  })

  it('trims the white space of Python str.strip(), not of String.prototype.trim', () => {
    expect(normalizeTag('\u001c x \u0085')).toBe('x')
    expect(normalizeTag('\u001f\u3000Tag\u2029\u00a0')).toBe('tag')
    expect(normalizeTag('\t\n\v\f\r\u2000\u200a\u202f\u205f\u1680 y')).toBe('y')
    // U+FEFF is a format character for Python, white space for JS: it stays.
    expect(normalizeTag('\ufeffz\ufeff')).toBe('\ufeffz\ufeff')
    // U+200B (zero width space) is white space for neither.
    expect(normalizeTag('\u200bw')).toBe('\u200bw')
    expect(normalizeTag(' a b ')).toBe('a b')
  })

  it('applies NFC, then lower-cases ASCII only', () => {
    expect(normalizeTag('E\u0301T\u00c9')).toBe('\u00c9t\u00c9')
    expect(normalizeTag('ÄBC')).toBe('Äbc')
    expect(normalizeTag('İSTANBUL')).toBe('İstanbul')
  })

  it('drops empties, dedupes after normalization and sorts by UTF-8 bytes', () => {
    const m = normalizeMetadata({
      ...base,
      tags: ['b', ' B', 'e\u0301', '\u00e9', '   ', '', '\uff61', '\ud83d\ude00', 'a'],
    })
    // UTF-16 order would put U+1F600 (D83D ...) before U+FF61; UTF-8 order (EF.. < F0..) does not.
    expect(m.tags).toEqual(['a', 'b', '\u00e9', '\uff61', '\ud83d\ude00'])
  })

  it('applies the tag limits after normalization', () => {
    const distinct = Array.from({ length: 32 }, (_, i) => `t${i}`)
    expect(normalizeMetadata({ ...base, tags: [...distinct, 'T0', ' t1 ', '', ' '] }).tags).toHaveLength(32)
    expect(errorCode(() => normalizeMetadata({ ...base, tags: [...distinct, 't32'] }))).toBe(
      'INVALID_METADATA',
    )
    const sixtyFour = `${'é'.repeat(31)}ab`
    expect(Buffer.byteLength(sixtyFour)).toBe(64)
    expect(normalizeMetadata({ ...base, tags: [`   ${sixtyFour}\u3000`] }).tags).toEqual([sixtyFour])
    expect(errorCode(() => normalizeMetadata({ ...base, tags: [`${sixtyFour}c`] }))).toBe('INVALID_METADATA')
    // e + U+0301 is 3 bytes, é after NFC is 2: the limit counts the normal form.
    expect(normalizeMetadata({ ...base, tags: ['e\u0301'.repeat(32)] }).tags).toEqual(['é'.repeat(32)])
  })

  it('dedupes and sorts fee events', () => {
    const [a, b] = ['0f'.repeat(32), 'a0'.repeat(32)]
    expect(normalizeMetadata({ ...base, atr_fee_events: [b, a, b] }).atr_fee_events).toEqual([a, b])
  })

  it('bounds author_node_id by UTF-8 bytes', () => {
    expect(normalizeMetadata({ ...base, author_node_id: 'é'.repeat(64) }).author_node_id).toBe('é'.repeat(64))
    expect(errorCode(() => normalizeMetadata({ ...base, author_node_id: `${'é'.repeat(64)}a` }))).toBe(
      'INVALID_METADATA',
    )
  })

  it('accepts the range edges', () => {
    const m = normalizeMetadata({
      ...base,
      created_at_tick: Number.MAX_SAFE_INTEGER,
      openagi_score: 0,
      aegis_telemetry_stub: {
        node_id: '',
        proof_result: 'FAIL',
        latency_band: 0,
        at_epoch: Number.MAX_SAFE_INTEGER,
      },
    })
    expect(m.openagi_score).toBe(0)
    expect(m.aegis_telemetry_stub?.at_epoch).toBe(Number.MAX_SAFE_INTEGER)
    expect(
      normalizeMetadata({ ...base, openagi_score: 1_000_000, aegis_telemetry_stub: null }).openagi_score,
    ).toBe(1_000_000)
  })

  it('rejects every wrong key, type or range with INVALID_METADATA', () => {
    const stub = { node_id: 'n', proof_result: 'PASS', latency_band: 1, at_epoch: 2 }
    const bad: unknown[] = [
      null,
      [],
      'metadata',
      new Date(0),
      {},
      { created_at_tick: 1 },
      { author_node_id: 'n' },
      { ...base, author_node_id: 5 },
      { ...base, author_node_id: 'a\ud800' },
      { ...base, created_at_tick: true },
      { ...base, created_at_tick: 1.5 },
      { ...base, created_at_tick: '1' },
      { ...base, created_at_tick: Number.MAX_SAFE_INTEGER + 1 },
      { ...base, created_at_tick: 1n },
      { ...base, tags: 'a' },
      { ...base, tags: null },
      { ...base, tags: [1] },
      { ...base, tags: ['ok', null] },
      { ...base, tags: ['\udc00'] },
      { ...base, openagi_score: true },
      { ...base, openagi_score: -1 },
      { ...base, openagi_score: 0.5 },
      { ...base, openagi_score: '5' },
      { ...base, atr_fee_events: null },
      { ...base, atr_fee_events: ['AB'.repeat(32)] },
      { ...base, atr_fee_events: ['ab'.repeat(31)] },
      { ...base, aegis_telemetry_stub: {} },
      { ...base, aegis_telemetry_stub: [] },
      { ...base, aegis_telemetry_stub: 'PASS' },
      { ...base, aegis_telemetry_stub: { ...stub, extra: 1 } },
      { ...base, aegis_telemetry_stub: { ...stub, proof_result: 'pass' } },
      { ...base, aegis_telemetry_stub: { ...stub, node_id: 3 } },
      { ...base, aegis_telemetry_stub: { ...stub, latency_band: false } },
      { ...base, aegis_telemetry_stub: { ...stub, at_epoch: -1 } },
      { ...base, aegis_telemetry_stub: { node_id: 'n', proof_result: 'PASS', latency_band: 1 } },
      { ...base, Tags: [] },
      // Found by the mutation pass: a lone surrogate in the stub's node_id has no UTF-8 form (it
      // failed later, in JCS, as INVALID_INPUT), and objects with another prototype than Object's
      // (a Date above fails on its keys anyway) were taken once their own keys were right.
      { ...base, aegis_telemetry_stub: { ...stub, node_id: 'n\udfff' } },
      Object.assign(Object.create({ x: 1 }), base),
      { ...base, aegis_telemetry_stub: Object.assign(Object.create({ x: 1 }), stub) },
    ]
    bad.forEach((m, i) => {
      expect(
        errorCode(() => normalizeMetadata(m)),
        `case ${i}`,
      ).toBe('INVALID_METADATA')
    })
  })

  it('is idempotent and always yields all six keys', () => {
    const stub = fc.record({
      node_id: fc.string(),
      proof_result: fc.constantFrom('PASS', 'FAIL', 'NONE'),
      latency_band: fc.nat(),
      at_epoch: fc.maxSafeNat(),
    })
    const tag = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 12 }),
      fc.constantFrom(' A ', 'e\u0301', '\u00e9', '\u0085x\u001c', '\ufeffy', 'ZZ', '\u3000'),
    )
    const metadata = fc.record(
      {
        author_node_id: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 }),
        created_at_tick: fc.maxSafeNat(),
        tags: fc.array(tag, { maxLength: 20 }),
        openagi_score: fc.option(fc.integer({ min: 0, max: 1_000_000 })),
        atr_fee_events: fc.array(fc.constantFrom('00'.repeat(32), 'ff'.repeat(32), '7a'.repeat(32)), {
          maxLength: 5,
        }),
        aegis_telemetry_stub: fc.option(stub),
      },
      { requiredKeys: ['author_node_id', 'created_at_tick'] },
    )
    fc.assert(
      fc.property(metadata, (m) => {
        let once: StorageMetadata
        try {
          once = normalizeMetadata(m)
        } catch (err) {
          // Only the byte limit of a long random tag may fail here.
          expect((err as { code?: string }).code).toBe('INVALID_METADATA')
          expect((m.tags ?? []).some((t) => Buffer.byteLength(normalizeTag(t)) > 64)).toBe(true)
          return
        }
        expect(Object.keys(once).sort()).toEqual([
          'aegis_telemetry_stub',
          'atr_fee_events',
          'author_node_id',
          'created_at_tick',
          'openagi_score',
          'tags',
        ])
        expect(normalizeMetadata(once)).toEqual(once)
        expect(hex(metadataSeed(normalizeMetadata(once)))).toBe(seedOracle(once))
      }),
      { seed: 1303, numRuns: 300 },
    )
  })
})
