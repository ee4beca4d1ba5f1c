import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  buildEvent,
  computeEventId,
  EVENT_TYPES,
  MAX_EVENT_BYTES,
  normalizeEventFields,
  parseStorageEvent,
  ZERO_ID,
} from '../../src/log/event.js'
import { codeOf, hexOf, NODE, oracleEventId, storeFields } from './fixtures.js'

const QFS_KEYS = [
  'event_id',
  'event_type',
  'epoch',
  'timestamp_tick',
  'object_id',
  'version',
  'hash_commit',
  'content_size',
  'shard_ids',
  'replica_sets',
  'atr_cost',
  'pqc_signature',
  'error_code',
  'error_detail',
]
const OUR_KEYS = ['schema', 'node_id', 'seq', 'prev_event_id', 'details']

describe('StorageEvent schema', () => {
  it('has every QFS key and our extensions, null where not applicable', () => {
    const { event } = buildEvent(normalizeEventFields({ event_type: 'LIST_OBJECTS' }), {
      node_id: NODE,
      seq: 0,
      prev_event_id: ZERO_ID,
    })
    expect(Object.keys(event).sort()).toEqual([...QFS_KEYS, ...OUR_KEYS].sort())
    expect(event).toMatchObject({
      schema: 'qfs-storage-event/1',
      object_id: null,
      version: null,
      shard_ids: [],
      replica_sets: {},
      atr_cost: null,
      pqc_signature: null,
      details: null,
    })
  })

  it('exports the twelve event types and rejects any other', () => {
    expect(EVENT_TYPES).toEqual([
      'STORE',
      'UPDATE',
      'DELETE_MARKER',
      'READ',
      'GET_PROOF',
      'LIST_OBJECTS',
      'NODE_REGISTRATION',
      'NODE_STATUS',
      'EPOCH_ADVANCEMENT',
      'REPLICA_COMMIT',
      'REPAIR',
      'AUDIT',
    ])
    for (const t of EVENT_TYPES) expect(codeOf(() => normalizeEventFields({ event_type: t }))).toBeUndefined()
    for (const t of ['WRITE', 'store', '', 7, null]) {
      expect(codeOf(() => normalizeEventFields({ event_type: t }))).toBe('INVALID_INPUT')
    }
  })

  it('event_id is SHA3-256 of the canonical event without event_id and pqc_signature (independent oracle)', () => {
    let prev = ZERO_ID
    for (let seq = 0; seq < 20; seq++) {
      const { event, stored } = buildEvent(normalizeEventFields(storeFields(seq)), {
        node_id: NODE,
        seq,
        prev_event_id: prev,
      })
      expect(event.event_id).toBe(oracleEventId(event as unknown as Record<string, unknown>))
      expect(computeEventId(event)).toBe(event.event_id)
      // The stored text is the same event, and parses back to it.
      expect(parseStorageEvent(JSON.parse(stored))).toEqual(event)
      expect(event.prev_event_id).toBe(prev)
      prev = event.event_id
    }
  })

  it('the id ignores pqc_signature but covers every other key', () => {
    const { event } = buildEvent(normalizeEventFields(storeFields(1)), {
      node_id: NODE,
      seq: 5,
      prev_event_id: hexOf(9),
    })
    const signed = {
      ...event,
      pqc_signature: { scheme: 'ML-DSA-65' as const, checkpoint_id: hexOf(3), leaf_index: 0, audit_path: [] },
    }
    expect(computeEventId(signed)).toBe(event.event_id)
    const changes: Record<string, unknown> = {
      schema: 'qfs-storage-event/2',
      node_id: 'node-b',
      seq: 6,
      prev_event_id: hexOf(10),
      event_type: 'UPDATE',
      epoch: 4,
      timestamp_tick: 1,
      object_id: hexOf(11),
      version: 2,
      hash_commit: hexOf(12),
      content_size: 1,
      shard_ids: [],
      replica_sets: {},
      atr_cost: '1.000000000000000000',
      error_code: 'SE_ERR_INTERNAL',
      error_detail: 'x',
      details: null,
    }
    for (const [key, value] of Object.entries(changes)) {
      expect(computeEventId({ ...event, [key]: value } as typeof event), key).not.toBe(event.event_id)
    }
  })
})

describe('field validation', () => {
  const bad: [string, Record<string, unknown>][] = [
    ['unknown key', { event_id: hexOf(1) }],
    ['seq is not a field', { seq: 1 }],
    ['negative epoch', { epoch: -1 }],
    ['fractional tick', { timestamp_tick: 1.5 }],
    ['unsafe version', { version: 2 ** 53 }],
    ['upper-case object id', { object_id: hexOf(1).toUpperCase() }],
    ['short hash_commit', { hash_commit: 'abcd' }],
    ['string content_size', { content_size: '10' }],
    ['shard id not hex', { shard_ids: ['x'] }],
    ['replica set key not an id', { replica_sets: { a: ['n'] } }],
    ['replica set node empty', { replica_sets: { [hexOf(1)]: [''] } }],
    ['atr_cost not canonical', { atr_cost: '400' }],
    ['atr_cost negative', { atr_cost: '-1.000000000000000000' }],
    ['atr_cost a number', { atr_cost: 400 }],
    ['error_code outside the finite set', { error_code: 'NOT_FOUND' }],
    ['float in details', { details: { score: 0.5 } }],
    ['bytes in details', { details: { content: new Uint8Array(4) } }],
    ['details an array', { details: [1] }],
    ['__proto__ key in details', { details: JSON.parse('{"__proto__": {"x": 1}}') }],
    ['lone surrogate', { error_detail: '\ud800' }],
  ]
  for (const [name, patch] of bad) {
    it(`rejects ${name}`, () => {
      expect(codeOf(() => normalizeEventFields({ ...storeFields(0), ...patch }))).toBe('INVALID_INPUT')
    })
  }

  it('rejects non-objects', () => {
    for (const v of [null, undefined, 1, 'STORE', [], new Map()])
      expect(codeOf(() => normalizeEventFields(v))).toBe('INVALID_INPUT')
  })

  it('rejects an event above the size bound when built', () => {
    const fields = normalizeEventFields({
      event_type: 'AUDIT',
      details: { blob: 'a'.repeat(MAX_EVENT_BYTES) },
    })
    expect(codeOf(() => buildEvent(fields, { node_id: NODE, seq: 0, prev_event_id: ZERO_ID }))).toBe(
      'INVALID_INPUT',
    )
  })

  it('copies details, so a caller mutating its object later cannot change the entry', () => {
    const details = { tags: ['a'] }
    const fields = normalizeEventFields({ event_type: 'AUDIT', details })
    details.tags.push('b')
    expect(fields.details).toEqual({ tags: ['a'] })
  })

  it('parseStorageEvent is total on arbitrary JSON (typed error or event)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const code = codeOf(() => parseStorageEvent(v))
        expect(code).toBe('INVALID_INPUT')
      }),
      { seed: 8785, numRuns: 300 },
    )
  })

  it('parseStorageEvent rejects a stored event with a key missing or added', () => {
    const { event } = buildEvent(normalizeEventFields(storeFields(0)), {
      node_id: NODE,
      seq: 0,
      prev_event_id: ZERO_ID,
    })
    for (const key of Object.keys(event)) {
      const { [key]: _gone, ...rest } = event as unknown as Record<string, unknown>
      expect(
        codeOf(() => parseStorageEvent(rest)),
        key,
      ).toBe('INVALID_INPUT')
    }
    expect(codeOf(() => parseStorageEvent({ ...event, extra: 1 }))).toBe('INVALID_INPUT')
    expect(codeOf(() => parseStorageEvent({ ...event, shard_ids: null }))).toBe('INVALID_INPUT')
  })
})
