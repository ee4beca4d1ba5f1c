import { BigNum128 } from '../core/bignum.js'
import { isId, utf8 } from '../core/bytes.js'
import { canonicalJson, isWellFormedText } from '../core/canonical.js'
import { InvalidInputError, STORAGE_ERROR_CODES, type StorageErrorCode } from '../core/errors.js'
import { sha3Hex } from '../core/hash.js'

/**
 * One EQM entry: the StorageEvent of the QFS interface spec (every key always present, null when
 * not applicable) plus this project's chain fields (`schema`, `node_id`, `seq`, `prev_event_id`)
 * and `details` for type-specific data. Events hold ids, sizes and metadata, never content bytes
 * (spec §7.1).
 */

export const EVENT_SCHEMA = 'qfs-storage-event/1'
/** `prev_event_id` of the first entry: no entry precedes it. */
export const ZERO_ID = '0'.repeat(64)

/** Public writes (spec §7.3), the interface spec's call events, and this node's own events. */
export const EVENT_TYPES = [
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
] as const
export type EventType = (typeof EVENT_TYPES)[number]

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }
export type JsonObject = { [key: string]: JsonValue }

/** Where an exported entry's signature is: a leaf of a signed checkpoint's batch tree. */
export interface PqcSignatureRef {
  scheme: 'ML-DSA-65'
  checkpoint_id: string
  leaf_index: number
  audit_path: string[]
}

/**
 * What a caller supplies to `append`; an omitted key is null, except `shard_ids` and `replica_sets`,
 * which are always an array and an object in the event (empty when not applicable, so "none" has one spelling).
 */
export interface EventFields {
  event_type: EventType
  epoch?: number | null
  timestamp_tick?: number | null
  object_id?: string | null
  version?: number | null
  hash_commit?: string | null
  content_size?: number | null
  shard_ids?: readonly string[] | null
  replica_sets?: Readonly<Record<string, readonly string[]>> | null
  atr_cost?: string | null
  error_code?: StorageErrorCode | null
  error_detail?: string | null
  /** JSON data (checked at run time: plain objects, arrays, strings, booleans, safe integers, null). */
  details?: object | null
}

/** The caller's fields after validation, with every key present. */
export interface NormalizedFields {
  event_type: EventType
  epoch: number | null
  timestamp_tick: number | null
  object_id: string | null
  version: number | null
  hash_commit: string | null
  content_size: number | null
  shard_ids: string[]
  replica_sets: Record<string, string[]>
  atr_cost: string | null
  error_code: StorageErrorCode | null
  error_detail: string | null
  details: JsonObject | null
}

export interface StorageEvent extends NormalizedFields {
  schema: typeof EVENT_SCHEMA
  node_id: string
  seq: number
  prev_event_id: string
  event_id: string
  pqc_signature: PqcSignatureRef | null
}

const FIELD_KEYS: readonly string[] = [
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
  'error_code',
  'error_detail',
  'details',
]
const EVENT_KEYS = new Set([
  ...FIELD_KEYS,
  'schema',
  'node_id',
  'seq',
  'prev_event_id',
  'event_id',
  'pqc_signature',
])
const FIELD_KEY_SET = new Set(FIELD_KEYS)

// Bounds keep one entry small: a log line is metadata, not a payload.
export const MAX_EVENT_BYTES = 65_536
const MAX_NODE_ID_BYTES = 128
const MAX_ERROR_DETAIL_CHARS = 1024
const MAX_DETAILS_DEPTH = 32

/** Checks caller fields (`INVALID_INPUT`) and returns a fresh copy the caller can no longer mutate. */
export function normalizeEventFields(input: unknown): NormalizedFields {
  const f = record(input, 'event fields')
  for (const key of Object.keys(f)) {
    if (!FIELD_KEY_SET.has(key)) throw new InvalidInputError(`unknown event field ${key}`)
  }
  return {
    event_type: eventType(f.event_type),
    epoch: nullable(f.epoch, 'epoch', safeUint),
    timestamp_tick: nullable(f.timestamp_tick, 'timestamp_tick', safeUint),
    object_id: nullable(f.object_id, 'object_id', hexId),
    version: nullable(f.version, 'version', safeUint),
    hash_commit: nullable(f.hash_commit, 'hash_commit', hexId),
    content_size: nullable(f.content_size, 'content_size', safeUint),
    shard_ids: f.shard_ids === undefined || f.shard_ids === null ? [] : shardIds(f.shard_ids),
    replica_sets: f.replica_sets === undefined || f.replica_sets === null ? {} : replicaSets(f.replica_sets),
    atr_cost: nullable(f.atr_cost, 'atr_cost', atrCost),
    error_code: nullable(f.error_code, 'error_code', errorCode),
    error_detail: nullable(f.error_detail, 'error_detail', errorDetail),
    details: nullable(f.details, 'details', (v, what) => record(jsonCopy(v, what, 0), what) as JsonObject),
  }
}

/** Validates a node id as it appears in events and checkpoints (`INVALID_INPUT`). */
export function validateNodeId(value: unknown, what = 'node_id'): string {
  if (typeof value !== 'string' || value.length === 0 || !isWellFormedText(value)) {
    throw new InvalidInputError(`${what} must be a non-empty well-formed string`)
  }
  if (Buffer.byteLength(value, 'utf8') > MAX_NODE_ID_BYTES) {
    throw new InvalidInputError(`${what} longer than ${MAX_NODE_ID_BYTES} UTF-8 bytes`)
  }
  return value
}

export interface ChainPosition {
  node_id: string
  seq: number
  prev_event_id: string
}

/**
 * The entry at a chain position, and its stored text. The id is hashed over the canonical body once;
 * the stored text splices `event_id` and `pqc_signature` in front of that same body instead of
 * serializing the event a second time (the stored text need not be canonical, only the hashed body).
 */
export function buildEvent(
  fields: NormalizedFields,
  at: ChainPosition,
): { event: StorageEvent; stored: string } {
  const body = eventBody(fields, at)
  const text = canonicalJson(body)
  const bytes = utf8(text)
  if (bytes.length > MAX_EVENT_BYTES)
    throw new InvalidInputError(`event larger than ${MAX_EVENT_BYTES} bytes`)
  const eventId = sha3Hex(bytes)
  const stored = `{"event_id":"${eventId}","pqc_signature":null,${text.slice(1)}`
  return { event: { ...body, event_id: eventId, pqc_signature: null }, stored }
}

/** `event_id` = H(JCS(event without `event_id` and `pqc_signature`)), as hex (PROTOCOL.md, StorageEngine boundary). */
export function computeEventId(event: StorageEvent): string {
  const { event_id: _id, pqc_signature: _sig, ...body } = event
  return sha3Hex(utf8(canonicalJson(body)))
}

/**
 * Checks the full shape of an event from anywhere (the database, an export, the wire): exactly the
 * known keys, each of its type (`INVALID_INPUT`). It does not check `event_id` against the body.
 */
export function parseStorageEvent(input: unknown): StorageEvent {
  const e = record(input, 'event')
  for (const key of Object.keys(e)) {
    if (!EVENT_KEYS.has(key)) throw new InvalidInputError(`unknown event key ${key}`)
  }
  for (const key of EVENT_KEYS) {
    if (!Object.hasOwn(e, key)) throw new InvalidInputError(`event key ${key} missing`)
  }
  if (e.schema !== EVENT_SCHEMA) throw new InvalidInputError(`event schema must be ${EVENT_SCHEMA}`)
  const { schema: _s, node_id, seq, prev_event_id, event_id, pqc_signature, ...fields } = e
  const normalized = normalizeEventFields(fields)
  // null and absent spell the same event in normalizeEventFields; a stored event spells every key.
  if (fields.shard_ids === null || fields.replica_sets === null) {
    throw new InvalidInputError('shard_ids and replica_sets are never null in an event')
  }
  return {
    ...eventBody(normalized, {
      node_id: validateNodeId(node_id),
      seq: safeUint(seq, 'seq'),
      prev_event_id: hexId(prev_event_id, 'prev_event_id'),
    }),
    event_id: hexId(event_id, 'event_id'),
    pqc_signature: nullable(pqc_signature, 'pqc_signature', signatureRef),
  }
}

function eventBody(
  fields: NormalizedFields,
  at: ChainPosition,
): Omit<StorageEvent, 'event_id' | 'pqc_signature'> {
  return {
    schema: EVENT_SCHEMA,
    node_id: at.node_id,
    seq: at.seq,
    prev_event_id: at.prev_event_id,
    event_type: fields.event_type,
    epoch: fields.epoch,
    timestamp_tick: fields.timestamp_tick,
    object_id: fields.object_id,
    version: fields.version,
    hash_commit: fields.hash_commit,
    content_size: fields.content_size,
    shard_ids: fields.shard_ids,
    replica_sets: fields.replica_sets,
    atr_cost: fields.atr_cost,
    error_code: fields.error_code,
    error_detail: fields.error_detail,
    details: fields.details,
  }
}

function signatureRef(value: unknown, what: string): PqcSignatureRef {
  const r = record(value, what)
  const keys = Object.keys(r)
  if (keys.length !== 4)
    throw new InvalidInputError(`${what} has keys scheme, checkpoint_id, leaf_index, audit_path`)
  if (r.scheme !== 'ML-DSA-65') throw new InvalidInputError(`${what}.scheme must be ML-DSA-65`)
  if (!Array.isArray(r.audit_path)) throw new InvalidInputError(`${what}.audit_path must be an array`)
  return {
    scheme: 'ML-DSA-65',
    checkpoint_id: hexId(r.checkpoint_id, `${what}.checkpoint_id`),
    leaf_index: safeUint(r.leaf_index, `${what}.leaf_index`),
    audit_path: r.audit_path.map((h, i) => hexId(h, `${what}.audit_path[${i}]`)),
  }
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidInputError(`${what} must be an object`)
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null)
    throw new InvalidInputError(`${what} must be a plain object`)
  return value as Record<string, unknown>
}

function nullable<T>(value: unknown, what: string, check: (v: unknown, what: string) => T): T | null {
  return value === undefined || value === null ? null : check(value, what)
}

function eventType(value: unknown): EventType {
  if (typeof value !== 'string' || !(EVENT_TYPES as readonly string[]).includes(value)) {
    throw new InvalidInputError(`event_type must be one of ${EVENT_TYPES.join(', ')}`)
  }
  return value as EventType
}

function safeUint(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidInputError(`${what} must be a non-negative safe integer`)
  }
  return value
}

function hexId(value: unknown, what: string): string {
  if (!isId(value)) throw new InvalidInputError(`${what} must be 64 lower-case hex characters`)
  return value
}

function shardIds(value: unknown): string[] {
  if (!Array.isArray(value)) throw new InvalidInputError('shard_ids must be an array')
  return value.map((id, i) => hexId(id, `shard_ids[${i}]`))
}

function replicaSets(value: unknown): Record<string, string[]> {
  const r = record(value, 'replica_sets')
  const out: Record<string, string[]> = {}
  for (const [shard, nodes] of Object.entries(r)) {
    hexId(shard, 'replica_sets key')
    if (!Array.isArray(nodes)) throw new InvalidInputError(`replica_sets.${shard} must be an array`)
    out[shard] = nodes.map((n, i) => validateNodeId(n, `replica_sets.${shard}[${i}]`))
  }
  return out
}

// One spelling per amount: QFS's to_decimal_string() form, so equal costs hash equal.
function atrCost(value: unknown, what: string): string {
  let canonical: string
  try {
    canonical = BigNum128.parse(value).toString()
  } catch (err) {
    throw new InvalidInputError(`${what} must be a BigNum128 decimal`, { cause: err })
  }
  if (canonical !== value) throw new InvalidInputError(`${what} must have exactly 18 fraction digits`)
  return canonical
}

function errorCode(value: unknown): StorageErrorCode {
  if (typeof value !== 'string' || !(STORAGE_ERROR_CODES as readonly string[]).includes(value)) {
    throw new InvalidInputError('error_code must be an SE_ERR_* code of the interface spec')
  }
  return value as StorageErrorCode
}

function errorDetail(value: unknown, what: string): string {
  if (typeof value !== 'string' || !isWellFormedText(value) || value.length > MAX_ERROR_DETAIL_CHARS) {
    throw new InvalidInputError(
      `${what} must be a well-formed string of at most ${MAX_ERROR_DETAIL_CHARS} characters`,
    )
  }
  return value
}

/** A deep copy of JSON data; numbers must be safe integers (nothing that reaches a log is a float). */
function jsonCopy(value: unknown, what: string, depth: number): JsonValue {
  if (depth > MAX_DETAILS_DEPTH)
    throw new InvalidInputError(`${what} nested deeper than ${MAX_DETAILS_DEPTH}`)
  switch (typeof value) {
    case 'string':
      if (!isWellFormedText(value)) throw new InvalidInputError(`${what}: string with a lone surrogate`)
      return value
    case 'boolean':
      return value
    case 'number':
      if (!Number.isSafeInteger(value)) throw new InvalidInputError(`${what}: numbers must be safe integers`)
      return value
    case 'object': {
      if (value === null) return null
      if (Array.isArray(value)) {
        const out: JsonValue[] = []
        for (let i = 0; i < value.length; i++) {
          if (!Object.hasOwn(value, i)) throw new InvalidInputError(`${what}[${i}]: hole in array`)
          out.push(jsonCopy(value[i], `${what}[${i}]`, depth + 1))
        }
        return out
      }
      const obj = record(value, what)
      const out: JsonObject = {}
      for (const [key, v] of Object.entries(obj)) {
        // Assigning "__proto__" would set the copy's prototype instead of a key.
        if (key === '__proto__' || !isWellFormedText(key))
          throw new InvalidInputError(`${what}: key ${key} not allowed`)
        out[key] = jsonCopy(v, `${what}.${key}`, depth + 1)
      }
      return out
    }
    default:
      throw new InvalidInputError(`${what}: ${typeof value} is not JSON data`)
  }
}
