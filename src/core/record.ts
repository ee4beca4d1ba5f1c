import { isId, toHex } from './bytes.js'
import { canonicalBytes, canonicalJson, isWellFormedText } from './canonical.js'
import { InvalidInputError, InvalidMetadataError, QfsError } from './errors.js'
import { sha3Hex } from './hash.js'
import { shardId as deriveShardId } from './ids.js'
import { EMPTY_ROOT } from './merkle.js'
import { normalizeMetadata, type StorageMetadata } from './metadata.js'
import type { ProtocolParams } from './params.js'
import { blockCount, shardRanges } from './shards.js'

/**
 * The record an object's catalogue homes keep for one version (docs/architecture.md, write path):
 * wire and log data, so snake_case, and everything a reader needs to find and check the shards.
 */
export type VersionKind = 'STORE' | 'UPDATE' | 'DELETE_MARKER'

export interface ShardDescriptor {
  shard_index: number
  shard_id: string
  length: number
  leaf_count: number
  merkle_root: string
  replicas: string[]
}

export interface VersionRecord {
  object_id: string
  version: number
  kind: VersionKind
  hash_commit: string
  content_size: number
  metadata: StorageMetadata
  schema_version: number
  block_size_bytes: number
  epoch: number
  timestamp_tick: number
  /** A canonical BigNum128 string (18 fraction digits). */
  atr_cost: string
  shards: ShardDescriptor[]
  catalogue_homes: string[]
}

/** What names a version and its content: every answer and catalogue entry about a version carries it. */
export type VersionFacts = Pick<
  VersionRecord,
  'object_id' | 'version' | 'kind' | 'hash_commit' | 'content_size'
>

const RECORD_KEYS = [
  'object_id',
  'version',
  'kind',
  'hash_commit',
  'content_size',
  'metadata',
  'schema_version',
  'block_size_bytes',
  'epoch',
  'timestamp_tick',
  'atr_cost',
  'shards',
  'catalogue_homes',
] as const
const SHARD_KEYS = ['shard_index', 'shard_id', 'length', 'leaf_count', 'merkle_root', 'replicas'] as const
const KINDS: readonly string[] = ['STORE', 'UPDATE', 'DELETE_MARKER']
const BIGNUM_TEXT = /^(0|[1-9][0-9]*)\.[0-9]{18}$/
const MAX_LEAF_COUNT = 0xffffffff
const EMPTY_ROOT_HEX = toHex(EMPTY_ROOT)

/**
 * Checks a record from the wire or the log against itself and the governed parameters; returns a
 * fresh copy built from the checked fields. Total: `INVALID_INPUT` (or `INVALID_METADATA` for the
 * metadata) for any inconsistency. The shard count and replication factor come from `params`; the
 * block size comes from the record, which keeps its layout checkable after a governance change.
 */
export function validateVersionRecord(input: unknown, params: ProtocolParams): VersionRecord {
  const r = exactObject(input, RECORD_KEYS, 'version record')
  const objectId = id(r.object_id, 'object_id')
  const version = count(r.version, 'version')
  if (version < 1) throw new InvalidInputError('version must be >= 1')
  const kind = r.kind
  if (typeof kind !== 'string' || !KINDS.includes(kind))
    throw new InvalidInputError('kind must be STORE, UPDATE or DELETE_MARKER')
  if (kind === 'STORE' && version !== 1) throw new InvalidInputError('STORE is the first version only')
  if (kind === 'UPDATE' && version === 1) throw new InvalidInputError('UPDATE needs an earlier version')
  const hashCommit = id(r.hash_commit, 'hash_commit')
  const contentSize = count(r.content_size, 'content_size')
  if (kind === 'DELETE_MARKER' && contentSize !== 0)
    throw new InvalidInputError('a delete marker has no content')
  const metadata = checkNormalized(r.metadata)
  const schemaVersion = count(r.schema_version, 'schema_version')
  if (schemaVersion > 0xffffffff) throw new InvalidInputError('schema_version must fit in u32')
  const blockSize = count(r.block_size_bytes, 'block_size_bytes')
  if (blockSize < 1) throw new InvalidInputError('block_size_bytes must be positive')
  const epoch = count(r.epoch, 'epoch')
  const timestampTick = count(r.timestamp_tick, 'timestamp_tick')
  if (typeof r.atr_cost !== 'string' || !BIGNUM_TEXT.test(r.atr_cost)) {
    throw new InvalidInputError('atr_cost must be a canonical BigNum128 string')
  }
  const shards = checkShards(r.shards, objectId, version, contentSize, blockSize, params)
  const catalogueHomes = nodeList(r.catalogue_homes, params.replicationFactor, 'catalogue_homes')
  return {
    object_id: objectId,
    version,
    kind: kind as VersionKind,
    hash_commit: hashCommit,
    content_size: contentSize,
    metadata,
    schema_version: schemaVersion,
    block_size_bytes: blockSize,
    epoch,
    timestamp_tick: timestampTick,
    atr_cost: r.atr_cost,
    shards,
    catalogue_homes: catalogueHomes,
  }
}

/**
 * The size of a record as it travels: the UTF-8 bytes of its canonical JSON, the body of the frame
 * that carries it. What bounds a listing answer (MAX_LIST_ANSWER_BYTES, docs/protocol.md 4.13).
 */
export function recordWireBytes(r: VersionRecord): number {
  return canonicalBytes(r).length
}

/** `hex(H(JCS(record)))`: the one name of a record, what homes compare and logs reference. */
export function recordDigest(r: VersionRecord): string {
  return sha3Hex(canonicalBytes(r))
}

function checkShards(
  value: unknown,
  objectId: string,
  version: number,
  contentSize: number,
  blockSize: number,
  params: ProtocolParams,
): ShardDescriptor[] {
  const ranges = shardRanges(contentSize, params)
  if (!Array.isArray(value) || value.length !== ranges.length) {
    throw new InvalidInputError(`shards must list ${ranges.length} shard descriptors`)
  }
  return ranges.map((range, i) => {
    const s = exactObject(value[i], SHARD_KEYS, `shards[${i}]`)
    if (s.shard_index !== i) throw new InvalidInputError(`shards[${i}].shard_index must be ${i}`)
    const shardId = deriveShardId(objectId, version, i)
    if (s.shard_id !== shardId) {
      throw new InvalidInputError(`shards[${i}].shard_id does not follow the shard_id formula`)
    }
    const length = range.end - range.start
    if (s.length !== length) throw new InvalidInputError(`shards[${i}].length must be ${length}`)
    const leafCount = blockCount(length, blockSize)
    if (leafCount > MAX_LEAF_COUNT)
      throw new InvalidInputError(`shards[${i}] has more leaves than a tree holds`)
    if (s.leaf_count !== leafCount)
      throw new InvalidInputError(`shards[${i}].leaf_count must be ${leafCount}`)
    const root = id(s.merkle_root, `shards[${i}].merkle_root`)
    if (leafCount === 0 && root !== EMPTY_ROOT_HEX)
      throw new InvalidInputError(`shards[${i}] is empty: its root is H("")`)
    return {
      shard_index: i,
      shard_id: shardId,
      length,
      leaf_count: leafCount,
      merkle_root: root,
      replicas: nodeList(s.replicas, params.replicationFactor, `shards[${i}].replicas`),
    }
  })
}

// Deep equality through JCS: a normalized record has one canonical form, so equal text is equal data.
function checkNormalized(value: unknown): StorageMetadata {
  const normal = normalizeMetadata(value)
  let same = false
  try {
    same = canonicalJson(value) === canonicalJson(normal)
  } catch (err) {
    if (!(err instanceof QfsError)) throw err
  }
  if (!same) throw new InvalidMetadataError('metadata is not in normal form')
  return normal
}

function nodeList(value: unknown, size: number, what: string): string[] {
  if (!Array.isArray(value) || value.length !== size)
    throw new InvalidInputError(`${what} must list ${size} node ids`)
  const seen = new Set<string>()
  for (const node of value) {
    if (typeof node !== 'string' || node === '' || !isWellFormedText(node)) {
      throw new InvalidInputError(`${what} entries must be non-empty node ids`)
    }
    if (seen.has(node)) throw new InvalidInputError(`${what} lists ${node} twice`)
    seen.add(node)
  }
  return [...seen]
}

function exactObject<K extends string>(value: unknown, keys: readonly K[], what: string): Record<K, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidInputError(`${what} must be an object`)
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null)
    throw new InvalidInputError(`${what} must be a plain object`)
  const own = Object.keys(value)
  if (own.length !== keys.length || !keys.every((k) => Object.hasOwn(value, k))) {
    throw new InvalidInputError(`${what} must have exactly ${keys.join(', ')}`)
  }
  return value as Record<K, unknown>
}

function id(value: unknown, what: string): string {
  if (!isId(value)) throw new InvalidInputError(`${what} must be 64 lower-case hex characters`)
  return value
}

function count(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidInputError(`${what} must be a non-negative safe integer`)
  }
  return value === 0 ? 0 : value
}
