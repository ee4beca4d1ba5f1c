import { InvalidInputError } from '../core/errors.js'
import { normalizeMetadata } from '../core/metadata.js'
import type { ProtocolParams } from '../core/params.js'
import { type VersionKind, validateVersionRecord } from '../core/record.js'
import type {
  EngineFailure,
  ObjectSummary,
  ProofSuccess,
  ReadHead,
  ShardReadInfo,
  StoreSuccess,
} from '../engine/responses.js'
import { ContentTooLargeError, isStorageErrorCode } from './errors.js'
import {
  countField,
  exact,
  idField,
  idList,
  MAX_NODE_ID_CHARS,
  nodeList,
  parseStorageProof,
  plainObject,
  textField,
} from './messages.js'

/**
 * The public protocols' messages (docs/protocol.md): requests as clients send them, answers in the
 * QFS StorageEngine shapes of src/engine/responses.ts. Requests are checked for shape and type here;
 * the engine checks their meaning (hex ids, version >= 1, metadata) so that it logs the failure.
 */

export interface WriteRequest {
  object_id: string
  version: number
  content_size: number
  metadata: unknown
  kind?: 'DELETE_MARKER'
  epoch?: number
  timestamp_tick?: number
}

export interface ReadRequest {
  object_id: string
  version?: number
}

export interface ProofRequest {
  object_id: string
  version: number
  shard_id: string
  leaf_index?: number
  epoch?: number
}

export interface ListRequest {
  filters?: Record<string, unknown>
  epoch?: number
}

/** The first frame of a read: everything about the version, including the record to verify against. */
export type ReadHeader = ReadHead

/** The last frame of a read: which replica served each shard. */
export interface ReadTrailer {
  ok: true
  proofs: ShardReadInfo[]
}

export interface ListHeader {
  ok: true
  next_cursor: { object_id: string; version: number } | null
  storage_event_id: string
}

const MAX_DETAIL_CHARS = 1024
const MAX_CODE_CHARS = 64
const KINDS: readonly string[] = ['STORE', 'UPDATE', 'DELETE_MARKER']
const BIGNUM_TEXT = /^(0|[1-9][0-9]*)\.[0-9]{18}$/

function stringField(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new InvalidInputError(`${what} must be a string`)
  return value
}

function numberField(value: unknown, what: string): number {
  if (typeof value !== 'number') throw new InvalidInputError(`${what} must be a number`)
  return value
}

function optionalCount(value: unknown, what: string): number | undefined {
  return value === undefined ? undefined : countField(value, what)
}

export function parseWriteRequest(value: unknown, maxContentBytes: number): WriteRequest {
  const w = exact(
    value,
    'write request',
    ['object_id', 'version', 'content_size', 'metadata'],
    ['kind', 'epoch', 'timestamp_tick'],
  )
  const contentSize = countField(w.content_size, 'content_size')
  if (contentSize > maxContentBytes) {
    throw new ContentTooLargeError(
      `content_size ${contentSize} exceeds this node's limit of ${maxContentBytes} bytes`,
    )
  }
  if (w.kind !== undefined && w.kind !== 'DELETE_MARKER')
    throw new InvalidInputError('kind may only be DELETE_MARKER')
  if (w.kind === 'DELETE_MARKER' && contentSize !== 0)
    throw new InvalidInputError('a delete marker has no content')
  const out: WriteRequest = {
    object_id: stringField(w.object_id, 'object_id'),
    version: numberField(w.version, 'version'),
    content_size: contentSize,
    metadata: w.metadata,
  }
  if (w.kind !== undefined) out.kind = 'DELETE_MARKER'
  const epoch = optionalCount(w.epoch, 'epoch')
  if (epoch !== undefined) out.epoch = epoch
  const tick = optionalCount(w.timestamp_tick, 'timestamp_tick')
  if (tick !== undefined) out.timestamp_tick = tick
  return out
}

export function parseReadRequest(value: unknown): ReadRequest {
  const r = exact(value, 'read request', ['object_id'], ['version'])
  const out: ReadRequest = { object_id: stringField(r.object_id, 'object_id') }
  if (r.version !== undefined) out.version = numberField(r.version, 'version')
  return out
}

export function parseProofRequest(value: unknown): ProofRequest {
  const p = exact(value, 'proof request', ['object_id', 'version', 'shard_id'], ['leaf_index', 'epoch'])
  const out: ProofRequest = {
    object_id: stringField(p.object_id, 'object_id'),
    version: numberField(p.version, 'version'),
    shard_id: stringField(p.shard_id, 'shard_id'),
  }
  if (p.leaf_index !== undefined) out.leaf_index = numberField(p.leaf_index, 'leaf_index')
  const epoch = optionalCount(p.epoch, 'epoch')
  if (epoch !== undefined) out.epoch = epoch
  return out
}

export function parseListObjectsRequest(value: unknown): ListRequest {
  const l = exact(value, 'list request', [], ['filters', 'epoch'])
  const out: ListRequest = {}
  if (l.filters !== undefined) out.filters = plainObject(l.filters, 'filters')
  const epoch = optionalCount(l.epoch, 'epoch')
  if (epoch !== undefined) out.epoch = epoch
  return out
}

// Answers (checked by clients) ------------------------------------------------------------------

const FAILURE_KEYS = ['ok', 'error_code', 'error_detail', 'code', 'storage_event_id']

export function isFailure(value: Record<string, unknown>): boolean {
  return value.ok === false
}

export function parseFailure(value: unknown): EngineFailure {
  const f = exact(value, 'failure', FAILURE_KEYS)
  if (f.ok !== false) throw new InvalidInputError('failure must have ok: false')
  if (!isStorageErrorCode(f.error_code)) throw new InvalidInputError('error_code must be an SE_ERR_* code')
  if (typeof f.error_detail !== 'string' || f.error_detail.length > MAX_DETAIL_CHARS) {
    throw new InvalidInputError('error_detail must be a short string')
  }
  return {
    ok: false,
    error_code: f.error_code,
    error_detail: f.error_detail,
    code: textField(f.code, 'code', MAX_CODE_CHARS),
    storage_event_id: f.storage_event_id === null ? null : idField(f.storage_event_id, 'storage_event_id'),
  }
}

function okField(value: unknown): true {
  if (value !== true) throw new InvalidInputError('ok must be true')
  return true
}

function kindField(value: unknown): VersionKind {
  if (typeof value !== 'string' || !KINDS.includes(value))
    throw new InvalidInputError('kind is not a version kind')
  return value as VersionKind
}

function replicaSets(value: unknown, what: string): Record<string, string[]> {
  const sets = plainObject(value, what)
  const out: Record<string, string[]> = {}
  for (const [shardId, nodes] of Object.entries(sets))
    out[idField(shardId, `${what} key`)] = nodeList(nodes, what)
  return out
}

const STORE_KEYS = [
  'ok',
  'object_id',
  'version',
  'kind',
  'hash_commit',
  'content_size',
  'shard_ids',
  'replica_sets',
  'atr_cost',
  'under_replicated',
  'storage_event_id',
]

export function parseStoreSuccess(value: unknown): StoreSuccess {
  const s = exact(value, 'store answer', STORE_KEYS)
  if (typeof s.atr_cost !== 'string' || !BIGNUM_TEXT.test(s.atr_cost)) {
    throw new InvalidInputError('atr_cost must be a canonical BigNum128 string')
  }
  return {
    ok: okField(s.ok),
    object_id: idField(s.object_id, 'object_id'),
    version: countField(s.version, 'version', 1),
    kind: kindField(s.kind),
    hash_commit: idField(s.hash_commit, 'hash_commit'),
    content_size: countField(s.content_size, 'content_size'),
    shard_ids: idList(s.shard_ids, 'shard_ids'),
    replica_sets: replicaSets(s.replica_sets, 'replica_sets'),
    atr_cost: s.atr_cost,
    under_replicated: replicaSets(s.under_replicated, 'under_replicated'),
    storage_event_id: idField(s.storage_event_id, 'storage_event_id'),
  }
}

const READ_HEADER_KEYS = [
  'ok',
  'object_id',
  'version',
  'kind',
  'hash_commit',
  'content_size',
  'metadata',
  'record',
  'storage_event_id',
]

/** The header must agree with its own record: the record is what the client verifies bytes against. */
export function parseReadHeader(value: unknown, params: ProtocolParams): ReadHeader {
  const h = exact(value, 'read header', READ_HEADER_KEYS)
  const record = validateVersionRecord(h.record, params)
  const header: ReadHeader = {
    ok: okField(h.ok),
    object_id: idField(h.object_id, 'object_id'),
    version: countField(h.version, 'version', 1),
    kind: kindField(h.kind),
    hash_commit: idField(h.hash_commit, 'hash_commit'),
    content_size: countField(h.content_size, 'content_size'),
    metadata: normalizeMetadata(h.metadata),
    record,
    storage_event_id: idField(h.storage_event_id, 'storage_event_id'),
  }
  if (
    header.object_id !== record.object_id ||
    header.version !== record.version ||
    header.kind !== record.kind ||
    header.hash_commit !== record.hash_commit ||
    header.content_size !== record.content_size
  ) {
    throw new InvalidInputError('read header disagrees with its record')
  }
  return header
}

const SHARD_INFO_KEYS = ['shard_id', 'shard_index', 'merkle_root', 'leaf_count', 'served_by']

export function parseReadTrailer(value: unknown): ReadTrailer {
  const t = exact(value, 'read trailer', ['ok', 'proofs'])
  if (!Array.isArray(t.proofs)) throw new InvalidInputError('proofs must be an array')
  return {
    ok: okField(t.ok),
    proofs: t.proofs.map((p, i) => {
      const s = exact(p, `proofs[${i}]`, SHARD_INFO_KEYS)
      return {
        shard_id: idField(s.shard_id, 'shard_id'),
        shard_index: countField(s.shard_index, 'shard_index'),
        merkle_root: idField(s.merkle_root, 'merkle_root'),
        leaf_count: countField(s.leaf_count, 'leaf_count'),
        served_by: s.served_by === null ? null : textField(s.served_by, 'served_by', MAX_NODE_ID_CHARS),
      }
    }),
  }
}

const PROOF_ANSWER_KEYS = [
  'ok',
  'object_id',
  'version',
  'shard_id',
  'merkle_root',
  'proof',
  'assigned_nodes',
  'answered_by',
  'storage_event_id',
]

export function parseProofSuccess(value: unknown): ProofSuccess {
  const p = exact(value, 'proof answer', PROOF_ANSWER_KEYS)
  return {
    ok: okField(p.ok),
    object_id: idField(p.object_id, 'object_id'),
    version: countField(p.version, 'version', 1),
    shard_id: idField(p.shard_id, 'shard_id'),
    merkle_root: idField(p.merkle_root, 'merkle_root'),
    proof: parseStorageProof(p.proof),
    assigned_nodes: nodeList(p.assigned_nodes, 'assigned_nodes'),
    answered_by: textField(p.answered_by, 'answered_by', MAX_NODE_ID_CHARS),
    storage_event_id: idField(p.storage_event_id, 'storage_event_id'),
  }
}

export function parseListHeader(value: unknown): ListHeader {
  const l = exact(value, 'list header', ['ok', 'next_cursor', 'storage_event_id'])
  let cursor: ListHeader['next_cursor'] = null
  if (l.next_cursor !== null) {
    const c = exact(l.next_cursor, 'next_cursor', ['object_id', 'version'])
    cursor = { object_id: idField(c.object_id, 'object_id'), version: countField(c.version, 'version', 1) }
  }
  return {
    ok: okField(l.ok),
    next_cursor: cursor,
    storage_event_id: idField(l.storage_event_id, 'storage_event_id'),
  }
}

const SUMMARY_KEYS = [
  'object_id',
  'version',
  'kind',
  'hash_commit',
  'content_size',
  'created_at_tick',
  'metadata',
]

export function parseObjectSummary(value: unknown): ObjectSummary {
  const s = exact(value, 'object summary', SUMMARY_KEYS)
  return {
    object_id: idField(s.object_id, 'object_id'),
    version: countField(s.version, 'version', 1),
    kind: kindField(s.kind),
    hash_commit: idField(s.hash_commit, 'hash_commit'),
    content_size: countField(s.content_size, 'content_size'),
    created_at_tick: countField(s.created_at_tick, 'created_at_tick'),
    metadata: normalizeMetadata(s.metadata),
  }
}
