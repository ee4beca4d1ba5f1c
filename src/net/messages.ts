import { isId } from '../core/bytes.js'
import { isWellFormedText } from '../core/canonical.js'
import { InvalidInputError } from '../core/errors.js'
import type { ProtocolParams } from '../core/params.js'
import { PROOF_KEYS, type StorageProof } from '../core/proof.js'
import { type VersionRecord, validateVersionRecord } from '../core/record.js'
import { type Acceptance, MAX_ACCEPTANCE_SIGNATURE_CHARS, MAX_ACCEPTANCES } from '../engine/acceptance.js'
import { type NodeListFilters, validateNodeListFilters } from '../engine/list.js'
import type {
  CommitRequest,
  CommitResult,
  RecordFilters,
  ShardHeader,
  ShardManifestInfo,
  StagedShardInfo,
} from '../engine/transport.js'
import type { JsonObject } from './frames.js'

/**
 * Total validation of every node-to-node message (docs/protocol.md "Messages"): exact key sets,
 * types and ranges, `INVALID_INPUT` for anything else. Deeper meaning (the shard_id formula, a
 * record's consistency) is checked where it is used: the store, NodeService, validateVersionRecord.
 */

export const MAX_NODE_ID_CHARS = 128
export const MAX_STAGING_ID_CHARS = 128
/** Staging ids in one abort request (a write stages at most shards × replicas per node). */
export const MAX_ABORT_IDS = 1024

export type Fields = Record<string, unknown>

/** A plain object with every `required` key, optional keys from `optional`, and nothing else. */
export function exact(
  value: unknown,
  what: string,
  required: readonly string[],
  optional: readonly string[] = [],
): Fields {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidInputError(`${what} must be an object`)
  }
  const v = value as Fields
  for (const key of required) {
    if (!Object.hasOwn(v, key)) throw new InvalidInputError(`${what} lacks ${key}`)
  }
  for (const key of Object.keys(v)) {
    if (!required.includes(key) && !optional.includes(key))
      throw new InvalidInputError(`${what} has unknown field ${key}`)
  }
  return v
}

export function idField(value: unknown, what: string): string {
  if (!isId(value)) throw new InvalidInputError(`${what} must be 64 lower-case hex characters`)
  return value
}

export function countField(value: unknown, what: string, min = 0): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidInputError(`${what} must be a safe integer >= ${min}`)
  }
  return value
}

export function textField(value: unknown, what: string, maxChars: number): string {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > maxChars ||
    !isWellFormedText(value)
  ) {
    throw new InvalidInputError(`${what} must be a string of 1..${maxChars} characters`)
  }
  return value
}

export function boolField(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw new InvalidInputError(`${what} must be a boolean`)
  return value
}

export function idList(value: unknown, what: string): string[] {
  if (!Array.isArray(value)) throw new InvalidInputError(`${what} must be an array`)
  return value.map((v, i) => idField(v, `${what}[${i}]`))
}

export function nodeList(value: unknown, what: string): string[] {
  if (!Array.isArray(value)) throw new InvalidInputError(`${what} must be an array`)
  return value.map((v, i) => textField(v, `${what}[${i}]`, MAX_NODE_ID_CHARS))
}

export function plainObject(value: unknown, what: string): Fields {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidInputError(`${what} must be an object`)
  }
  return value as Fields
}

// replica/push ---------------------------------------------------------------------------------

const HEADER_KEYS = ['object_id', 'version', 'shard_index', 'shard_id', 'length', 'block_size_bytes']

export function parseShardHeader(value: unknown): ShardHeader {
  const h = exact(value, 'shard header', HEADER_KEYS)
  return {
    object_id: idField(h.object_id, 'object_id'),
    version: countField(h.version, 'version', 1),
    shard_index: countField(h.shard_index, 'shard_index'),
    shard_id: idField(h.shard_id, 'shard_id'),
    length: countField(h.length, 'length'),
    block_size_bytes: countField(h.block_size_bytes, 'block_size_bytes', 1),
  }
}

const STAGED_KEYS = ['node_id', 'staging_id', 'shard_id', 'length', 'leaf_count', 'merkle_root']

export function parseStagedShardInfo(value: unknown): StagedShardInfo {
  const s = exact(value, 'staged shard', STAGED_KEYS)
  return {
    node_id: textField(s.node_id, 'node_id', MAX_NODE_ID_CHARS),
    staging_id: textField(s.staging_id, 'staging_id', MAX_STAGING_ID_CHARS),
    shard_id: idField(s.shard_id, 'shard_id'),
    length: countField(s.length, 'length'),
    leaf_count: countField(s.leaf_count, 'leaf_count'),
    merkle_root: idField(s.merkle_root, 'merkle_root'),
  }
}

// replica/commit and replica/abort ---------------------------------------------------------------

/** The record stays unchecked here: NodeService.commitVersion validates it against its parameters. */
export function parseCommitRequest(value: unknown): CommitRequest {
  const c = exact(value, 'commit request', ['record', 'staged'], ['acceptances'])
  plainObject(c.record, 'record')
  if (!Array.isArray(c.staged)) throw new InvalidInputError('staged must be an array')
  const request: CommitRequest = {
    record: c.record as VersionRecord,
    staged: c.staged.map((s, i) => {
      const e = exact(s, `staged[${i}]`, ['shard_id', 'staging_id'])
      return {
        shard_id: idField(e.shard_id, `staged[${i}].shard_id`),
        staging_id: textField(e.staging_id, `staged[${i}].staging_id`, MAX_STAGING_ID_CHARS),
      }
    }),
  }
  if (c.acceptances !== undefined) request.acceptances = parseAcceptances(c.acceptances)
  return request
}

function parseAcceptances(value: unknown): Acceptance[] {
  if (!Array.isArray(value) || value.length > MAX_ACCEPTANCES) {
    throw new InvalidInputError(`acceptances must be an array of at most ${MAX_ACCEPTANCES}`)
  }
  return value.map((a, i) => {
    const e = exact(a, `acceptances[${i}]`, ['node_id', 'signature'])
    return {
      node_id: textField(e.node_id, `acceptances[${i}].node_id`, MAX_NODE_ID_CHARS),
      signature: signatureField(e.signature, `acceptances[${i}].signature`),
    }
  })
}

/** Lower-case hex of an even length, at most MAX_ACCEPTANCE_SIGNATURE_CHARS characters. */
function signatureField(value: unknown, what: string): string {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > MAX_ACCEPTANCE_SIGNATURE_CHARS ||
    value.length % 2 !== 0 ||
    !/^[0-9a-f]+$/.test(value)
  ) {
    throw new InvalidInputError(
      `${what} must be lower-case hex of at most ${MAX_ACCEPTANCE_SIGNATURE_CHARS} characters`,
    )
  }
  return value
}

export function parseCommitResult(value: unknown): CommitResult {
  const c = exact(
    value,
    'commit result',
    ['node_id', 'event_id', 'idempotent', 'home', 'shard_ids'],
    ['acceptance'],
  )
  const result: CommitResult = {
    node_id: textField(c.node_id, 'node_id', MAX_NODE_ID_CHARS),
    event_id: c.event_id === null ? null : idField(c.event_id, 'event_id'),
    idempotent: boolField(c.idempotent, 'idempotent'),
    home: boolField(c.home, 'home'),
    shard_ids: idList(c.shard_ids, 'shard_ids'),
  }
  if (c.acceptance !== undefined) result.acceptance = signatureField(c.acceptance, 'acceptance')
  return result
}

export function parseAbortRequest(value: unknown): string[] {
  const a = exact(value, 'abort request', ['staging_ids'])
  if (!Array.isArray(a.staging_ids) || a.staging_ids.length > MAX_ABORT_IDS) {
    throw new InvalidInputError(`staging_ids must be an array of at most ${MAX_ABORT_IDS} ids`)
  }
  return a.staging_ids.map((s, i) => textField(s, `staging_ids[${i}]`, MAX_STAGING_ID_CHARS))
}

/** The answer of operations that return nothing: `{"ok":true}`. */
export function parseAck(value: unknown): void {
  const a = exact(value, 'acknowledgement', ['ok'])
  if (a.ok !== true) throw new InvalidInputError('acknowledgement must be {"ok":true}')
}

// replica/record, replica/manifest ---------------------------------------------------------------

export function parseRecordRequest(value: unknown): { object_id: string; version: number | 'latest' } {
  const r = exact(value, 'record request', ['object_id', 'version'])
  return {
    object_id: idField(r.object_id, 'object_id'),
    version: r.version === 'latest' ? 'latest' : countField(r.version, 'version', 1),
  }
}

export function parseRecordReply(value: unknown, params: ProtocolParams): VersionRecord | undefined {
  const r = exact(value, 'record reply', ['record'])
  return r.record === null ? undefined : validateVersionRecord(r.record, params)
}

export function parseShardIdRequest(value: unknown, what: string): string {
  return idField(exact(value, what, ['shard_id']).shard_id, 'shard_id')
}

/** A manifest without its leaf hashes: those follow as DATA frames of raw 32-byte hashes. */
export type ManifestHead = Omit<ShardManifestInfo, 'leaf_hashes'>
const MANIFEST_KEYS = [
  'object_id',
  'version',
  'shard_index',
  'shard_id',
  'length',
  'leaf_count',
  'merkle_root',
  'hash_commit',
]
/** Leaf hashes per DATA frame of a manifest answer (1 MiB of 32-byte hashes). */
export const LEAF_HASHES_PER_FRAME = 32_768

export function manifestHead(m: ShardManifestInfo): ManifestHead {
  const { leaf_hashes: _leaves, ...head } = m
  return head
}

export function parseManifestReply(value: unknown): ManifestHead | undefined {
  const r = exact(value, 'manifest reply', ['manifest'])
  if (r.manifest === null) return undefined
  const m = exact(r.manifest, 'manifest', MANIFEST_KEYS)
  return {
    object_id: idField(m.object_id, 'object_id'),
    version: countField(m.version, 'version', 1),
    shard_index: countField(m.shard_index, 'shard_index'),
    shard_id: idField(m.shard_id, 'shard_id'),
    length: countField(m.length, 'length'),
    leaf_count: countField(m.leaf_count, 'leaf_count'),
    merkle_root: idField(m.merkle_root, 'merkle_root'),
    hash_commit: idField(m.hash_commit, 'hash_commit'),
  }
}

// replica/fetch, replica/prove, replica/list -----------------------------------------------------

export function parseFetchRequest(value: unknown): { shard_id: string; from_block: number } {
  const f = exact(value, 'fetch request', ['shard_id', 'from_block'])
  return { shard_id: idField(f.shard_id, 'shard_id'), from_block: countField(f.from_block, 'from_block') }
}

export function parseProveRequest(value: unknown): { shard_id: string; leaf_index: number } {
  const p = exact(value, 'prove request', ['shard_id', 'leaf_index'])
  return { shard_id: idField(p.shard_id, 'shard_id'), leaf_index: countField(p.leaf_index, 'leaf_index') }
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Shape only: whether it proves anything is verifyStorageProof's job, against the record's root. */
export function parseStorageProof(value: unknown): StorageProof {
  const p = exact(value, 'proof', PROOF_KEYS)
  if (typeof p.block !== 'string' || !BASE64_RE.test(p.block))
    throw new InvalidInputError('proof block must be base64')
  return {
    object_id: idField(p.object_id, 'object_id'),
    version: countField(p.version, 'version', 1),
    shard_id: idField(p.shard_id, 'shard_id'),
    leaf_index: countField(p.leaf_index, 'leaf_index'),
    leaf_count: countField(p.leaf_count, 'leaf_count'),
    block: p.block,
    leaf_hash: idField(p.leaf_hash, 'leaf_hash'),
    audit_path: idList(p.audit_path, 'audit_path'),
    merkle_root: idField(p.merkle_root, 'merkle_root'),
  }
}

export function parseProofReply(value: unknown): StorageProof {
  return parseStorageProof(exact(value, 'proof reply', ['proof']).proof)
}

/**
 * replica/list takes the list filters themselves (the serving node adds `home_only`), and the
 * coordinator's optional `scan_budget` and `max_bytes` (docs/protocol.md 4.13).
 */
export function parseListRequest(value: unknown): NodeListFilters {
  return validateNodeListFilters(plainObject(value, 'list request'))
}

/** Filters as a canonical JSON object: absent filters are left out, never sent as undefined. */
export function filtersToJson(filters: RecordFilters): JsonObject {
  const out: JsonObject = {}
  for (const [key, value] of Object.entries(filters)) if (value !== undefined) out[key] = value
  return out
}
