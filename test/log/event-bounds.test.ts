import { describe, expect, it } from 'vitest'
import {
  buildEvent,
  MAX_EVENT_BYTES,
  normalizeEventFields,
  parseStorageEvent,
  validateNodeId,
  ZERO_ID,
} from '../../src/log/event.js'
import { codeOf, hexOf, NODE, oracleCanonical, storeFields } from './fixtures.js'

/** Each bound of an entry at its edge (the last value accepted, the first refused), and the shapes a parse refuses. */

const AT = { node_id: NODE, seq: 0, prev_event_id: ZERO_ID }

describe('entry bounds at their edge', () => {
  it('a node id of 128 UTF-8 bytes is accepted, 129 refused (bytes, not characters)', () => {
    for (const ok of ['a'.repeat(128), 'é'.repeat(64)])
      expect(codeOf(() => validateNodeId(ok))).toBeUndefined()
    for (const bad of ['a'.repeat(129), `${'é'.repeat(64)}a`]) {
      expect(codeOf(() => validateNodeId(bad))).toBe('INVALID_INPUT')
    }
  })

  it(`an event of exactly ${MAX_EVENT_BYTES} hashed bytes is built, one byte more is refused`, () => {
    const withBlob = (blob: string) => normalizeEventFields({ event_type: 'AUDIT', details: { blob } })
    const { event } = buildEvent(withBlob(''), AT)
    const { event_id: _id, pqc_signature: _sig, ...body } = event
    const base = Buffer.byteLength(oracleCanonical(body), 'utf8')
    const fits = 'b'.repeat(MAX_EVENT_BYTES - base)
    expect(codeOf(() => buildEvent(withBlob(fits), AT))).toBeUndefined()
    expect(codeOf(() => buildEvent(withBlob(`${fits}b`), AT))).toBe('INVALID_INPUT')
  })

  it('an error_detail of 1024 characters is accepted, 1025 refused', () => {
    const detail = (n: number) => normalizeEventFields({ event_type: 'READ', error_detail: 'x'.repeat(n) })
    expect(codeOf(() => detail(1024))).toBeUndefined()
    expect(codeOf(() => detail(1025))).toBe('INVALID_INPUT')
  })

  it('details nested 32 deep are accepted, 33 refused', () => {
    const nested = (depth: number) => {
      let v: unknown = 1
      for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { k: v }
      return { v }
    }
    expect(codeOf(() => normalizeEventFields({ event_type: 'AUDIT', details: nested(31) }))).toBeUndefined()
    expect(codeOf(() => normalizeEventFields({ event_type: 'AUDIT', details: nested(32) }))).toBe(
      'INVALID_INPUT',
    )
  })
})

describe('details that would not survive the log unchanged', () => {
  const bad: Array<[string, unknown]> = [
    ['a lone surrogate in a string', { note: '\udc00' }],
    ['a lone surrogate in a key', { '\ud800': 1 }],
    // Assigned to a copy, the key would set its prototype and vanish from the entry.
    ['a nested __proto__ key', { meta: JSON.parse('{"__proto__": {"x": 1}}') }],
  ]
  for (const [name, details] of bad) {
    it(`refuses ${name}`, () => {
      expect(codeOf(() => normalizeEventFields({ event_type: 'AUDIT', details }))).toBe('INVALID_INPUT')
    })
  }
})

describe('parseStorageEvent refuses a stored event of another shape', () => {
  const { event } = buildEvent(normalizeEventFields(storeFields(0)), AT)
  const ref = { scheme: 'ML-DSA-65', checkpoint_id: hexOf(1), leaf_index: 0, audit_path: [hexOf(2)] }

  it('accepts the event, with and without a pqc_signature', () => {
    expect(parseStorageEvent(event)).toEqual(event)
    expect(parseStorageEvent({ ...event, pqc_signature: ref })).toEqual({ ...event, pqc_signature: ref })
  })

  const bad: Array<[string, Record<string, unknown>]> = [
    ['replica_sets null (one spelling of none: {})', { replica_sets: null }],
    ['an empty node_id', { node_id: '' }],
    ['a node_id of 129 bytes', { node_id: 'a'.repeat(129) }],
    ['a pqc_signature with a fifth key', { pqc_signature: { ...ref, extra: 1 } }],
    ['a pqc_signature of another scheme', { pqc_signature: { ...ref, scheme: 'ML-DSA-44' } }],
    ['a pqc_signature audit path entry not hex', { pqc_signature: { ...ref, audit_path: ['zz'] } }],
    [
      'a pqc_signature audit path entry upper-case',
      { pqc_signature: { ...ref, audit_path: [hexOf(2).toUpperCase()] } },
    ],
  ]
  for (const [name, patch] of bad) {
    it(`refuses ${name}`, () => {
      expect(codeOf(() => parseStorageEvent({ ...event, ...patch }))).toBe('INVALID_INPUT')
    })
  }
})
