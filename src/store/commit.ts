import { isId, parseId } from '../core/bytes.js'
import { InvalidInputError } from '../core/errors.js'
import type { StorageMetadata } from '../core/metadata.js'
import type { ProtocolParams } from '../core/params.js'
import {
  recordDigest,
  type ShardDescriptor,
  type VersionKind,
  type VersionRecord,
  validateVersionRecord,
} from '../core/record.js'
import { type Counters, countersOp, readCounters } from './counters.js'
import {
  blockKey,
  indexKey,
  isStagingId,
  objectRange,
  parseStagingId,
  type StoreBatchOp,
  type StoreSublevels,
} from './db.js'
import {
  IntegrityMismatchError,
  InvalidVersionError,
  NotFoundError,
  RootMismatchError,
  VersionConflictError,
} from './errors.js'
import {
  decodeManifest,
  decodeMarker,
  encodeManifest,
  type ShardManifest,
  type StagingMarker,
} from './manifest.js'

/** This node's part in a version: catalogue home (ordering rule applies) and/or holder of some shards. */
export interface CommitRole {
  home: boolean
  shards: Array<{ shardId: string; stagingId: string }>
}

/** One version in this node's object index. A non-home holder keeps the record too, with `home: false`. */
export interface IndexEntry {
  object_id: string
  version: number
  hash_commit: string
  kind: VersionKind
  metadata: StorageMetadata
  home: boolean
  record: VersionRecord
}

export interface ShardCommitSummary {
  shard_id: string
  shard_index: number
  /** The manifest already existed with this root; the duplicate staging is discarded. */
  idempotent: boolean
  length: number
  leaf_count: number
  merkle_root: string
}

export interface CommitSummary {
  object_id: string
  version: number
  hash_commit: string
  kind: VersionKind
  home: boolean
  /** `created`: a new entry; `home_added`: a holder's entry became a home's; `unchanged`: already there. */
  index: 'created' | 'home_added' | 'unchanged'
  /** Nothing new: the entry and every manifest were already there (a retried commit). */
  idempotent: boolean
  shards: ShardCommitSummary[]
  bytes_added: number
}

/** Ops for one root `db.batch()`, to be written together with the caller's log entry. */
export interface PreparedCommit {
  ops: StoreBatchOp[]
  summary: CommitSummary
  /** The counters `ops` write, once that batch is in (undefined when `ops` is empty). */
  counters?: Counters
}

interface StoredEntry {
  home: boolean
  record: VersionRecord
}

export function toIndexEntry(value: unknown): IndexEntry {
  const v = value as StoredEntry | null
  if (v === null || typeof v !== 'object' || typeof v.home !== 'boolean' || typeof v.record !== 'object') {
    throw new IntegrityMismatchError('stored index entry unreadable')
  }
  const r = v.record
  return {
    object_id: r.object_id,
    version: r.version,
    hash_commit: r.hash_commit,
    kind: r.kind,
    metadata: r.metadata,
    home: v.home,
    record: r,
  }
}

export async function readEntry(
  subs: StoreSublevels,
  objectId: string,
  version: number,
): Promise<IndexEntry | undefined> {
  // An index entry is one record, at most tens of KiB: read synchronously (reader.ts
  // SYNC_READ_MAX_BYTES).
  const value = subs.index.getSync(indexKey(objectId, version))
  return value === undefined ? undefined : toIndexEntry(value)
}

/**
 * The highest home version of an object (0 if none; home versions are always 1..latest), walking
 * down from `top`, the entry `entries` (the object's index, highest version first) just gave.
 */
async function latestHome(
  top: IndexEntry | undefined,
  entries: { next(): Promise<unknown> },
): Promise<number> {
  let entry = top
  while (entry !== undefined) {
    if (entry.home) return entry.version
    const value = await entries.next()
    entry = value === undefined ? undefined : toIndexEntry(value)
  }
  return 0
}

/**
 * The staging markers and manifests of a commit's shards, read synchronously: a marker is a few
 * hundred bytes and a manifest 32 bytes per block, both in LevelDB's cache after the staging that
 * wrote them, so each read costs less than one thread-pool round trip would (reader.ts
 * SYNC_READ_MAX_BYTES).
 */
function markersAndManifests(
  subs: StoreSublevels,
  markerKeys: readonly Uint8Array[],
  shards: CommitRole['shards'],
): { markers: Array<Uint8Array | undefined>; manifests: Array<Uint8Array | undefined> } {
  return {
    markers: markerKeys.map((k) => subs.staging.getSync(k)),
    manifests: shards.map((s) => subs.manifests.getSync(parseId(s.shardId, 'shard_id'))),
  }
}

function validateRole(input: unknown, record: VersionRecord): CommitRole {
  if (input === null || typeof input !== 'object')
    throw new InvalidInputError('commit role must be an object')
  const { home, shards } = input as Record<string, unknown>
  if (typeof home !== 'boolean') throw new InvalidInputError('role.home must be a boolean')
  if (!Array.isArray(shards) || shards.length > record.shards.length) {
    throw new InvalidInputError('role.shards must list at most the record’s shards')
  }
  const shardIds = new Set<string>()
  const stagingIds = new Set<string>()
  const out: CommitRole['shards'] = []
  for (const s of shards as unknown[]) {
    const { shardId, stagingId } = (s ?? {}) as Record<string, unknown>
    if (!isId(shardId) || !isStagingId(stagingId))
      throw new InvalidInputError('role.shards entries need shardId and stagingId')
    if (!record.shards.some((d) => d.shard_id === shardId)) {
      throw new InvalidInputError(`shard ${shardId} is not a shard of this version`)
    }
    if (shardIds.has(shardId) || stagingIds.has(stagingId))
      throw new InvalidInputError('role.shards lists a shard twice')
    shardIds.add(shardId)
    stagingIds.add(stagingId)
    out.push({ shardId, stagingId })
  }
  return { home, shards: out }
}

function checkStaged(marker: StagingMarker, d: ShardDescriptor, record: VersionRecord): void {
  const mismatch = (what: string, staged: unknown, named: unknown) =>
    new RootMismatchError(
      `shard ${d.shard_id}: staged ${what} ${String(staged)}, record names ${String(named)}`,
    )
  if (marker.blockSizeBytes !== record.block_size_bytes) {
    throw mismatch('block size', marker.blockSizeBytes, record.block_size_bytes)
  }
  if (marker.length !== d.length) throw mismatch('length', marker.length, d.length)
  if (marker.leafHashes.length !== d.leaf_count)
    throw mismatch('leaf count', marker.leafHashes.length, d.leaf_count)
  if (marker.merkleRoot !== d.merkle_root) throw mismatch('root', marker.merkleRoot, d.merkle_root)
}

/**
 * Validates a version for this node and returns the ops that record it; writes nothing. Must run
 * under the node's single-writer lock, and the ops must be written (in one root batch) before the
 * lock is released: the checks read the index, manifests and counters the ops then overwrite.
 */
export async function prepareCommitOps(
  subs: StoreSublevels,
  params: ProtocolParams,
  recordInput: unknown,
  roleInput: unknown,
  /** The persisted counters, when the caller knows them (a copy: they are updated in place). */
  known?: Counters,
  /**
   * Set when `recordInput` is what `validateVersionRecord(…, params)` returned to the caller, whose
   * `recordDigest` is `digest`: neither is computed again (a commit validates its record once).
   */
  validated?: { digest: string },
): Promise<PreparedCommit> {
  const record =
    validated === undefined ? validateVersionRecord(recordInput, params) : (recordInput as VersionRecord)
  const role = validateRole(roleInput, record)
  const { object_id: objectId, version } = record
  const counters = known ?? (await readCounters(subs))
  const ops: StoreBatchOp[] = []
  const markerKeys = role.shards.map((s) => parseStagingId(s.stagingId))

  // The object index: the append-only rule for homes, the same-version rule for everyone. Read from
  // the object's highest version down: for a new version (above every one kept, the usual case)
  // that one read says there is no entry yet, whether the object has any, and its latest home.
  const entries = subs.index.values({ ...objectRange(objectId), reverse: true })
  let existing: IndexEntry | undefined
  let latest = 0
  let any: boolean
  try {
    const first = await entries.next()
    const top = first === undefined ? undefined : toIndexEntry(first)
    any = top !== undefined
    if (top !== undefined && top.version >= version)
      existing = top.version === version ? top : await readEntry(subs, objectId, version)
    // Idempotence is judged on the whole record, the unit readers vote on: the same bytes with
    // another tick or epoch are another record, and two of them at different homes would split the vote.
    if (
      existing !== undefined &&
      recordDigest(existing.record) !== (validated?.digest ?? recordDigest(record))
    ) {
      throw new VersionConflictError(`version ${version} of ${objectId} already holds another record`)
    }
    if (role.home && existing?.home !== true) latest = await latestHome(top, entries)
  } finally {
    await entries.close()
  }
  let index: CommitSummary['index'] = 'unchanged'
  if (role.home && existing?.home !== true && version !== latest + 1) {
    throw new InvalidVersionError(
      `version ${version} of ${objectId} is not the next one (latest is ${latest})`,
    )
  }
  if (existing === undefined) {
    index = 'created'
    if (!any) counters.objects++
    counters.versions++
  } else if (role.home && !existing.home) {
    index = 'home_added'
  }
  if (index !== 'unchanged') {
    const home = role.home || existing?.home === true
    const value: StoredEntry = { home, record: existing?.record ?? record }
    ops.push({ type: 'put', sublevel: subs.index, key: indexKey(objectId, version), value })
  }

  // The shards this node holds: staged bytes become a manifest when their root is the record's.
  const shards: ShardCommitSummary[] = []
  let bytesAdded = 0
  const { markers, manifests } = markersAndManifests(subs, markerKeys, role.shards)
  for (const [i, { shardId, stagingId }] of role.shards.entries()) {
    const d = record.shards.find((x) => x.shard_id === shardId)!
    const markerKey = markerKeys[i]!
    const markerValue = markers[i]
    if (markerValue === undefined) throw new NotFoundError(`no staged shard ${stagingId}`)
    const marker = decodeMarker(markerValue)
    if (marker.state !== 'staged') throw new NotFoundError(`staged shard ${stagingId} is not finished`)
    if (marker.shardId !== shardId) throw new InvalidInputError(`staging ${stagingId} holds another shard`)
    checkStaged(marker, d, record)
    const stored = manifests[i]
    ops.push({ type: 'del', sublevel: subs.staging, key: markerKey })
    counters.staged = Math.max(0, counters.staged - 1)
    counters.staged_bytes = Math.max(0, counters.staged_bytes - marker.length)
    if (stored !== undefined) {
      const manifest = decodeManifest(stored)
      if (manifest.merkleRoot !== d.merkle_root) {
        throw new VersionConflictError(`shard ${shardId} is already stored with another root`)
      }
      // A retried transfer: keep the first copy, drop this one in the same batch.
      for (let i = 0; i < marker.leafHashes.length; i++) {
        ops.push({ type: 'del', sublevel: subs.blocks, key: blockKey(stagingId, i) })
      }
      shards.push({ ...shardSummary(d), idempotent: true })
      continue
    }
    const manifest: ShardManifest = {
      objectId,
      version,
      shardIndex: d.shard_index,
      shardId,
      length: d.length,
      leafCount: d.leaf_count,
      merkleRoot: d.merkle_root,
      hashCommit: record.hash_commit,
      blockSizeBytes: record.block_size_bytes,
      stagingId,
      leafHashes: marker.leafHashes,
    }
    ops.push({
      type: 'put',
      sublevel: subs.manifests,
      key: parseId(shardId),
      value: encodeManifest(manifest),
    })
    counters.shards++
    counters.bytes_stored += d.length
    bytesAdded += d.length
    shards.push({ ...shardSummary(d), idempotent: false })
  }

  if (ops.length > 0) ops.push(countersOp(subs, counters))
  const summary: CommitSummary = {
    object_id: objectId,
    version,
    hash_commit: record.hash_commit,
    kind: record.kind,
    home: role.home,
    index,
    idempotent: index === 'unchanged' && shards.every((s) => s.idempotent),
    shards,
    bytes_added: bytesAdded,
  }
  return ops.length > 0 ? { ops, summary, counters } : { ops, summary }
}

function shardSummary(d: ShardDescriptor): Omit<ShardCommitSummary, 'idempotent'> {
  return {
    shard_id: d.shard_id,
    shard_index: d.shard_index,
    length: d.length,
    leaf_count: d.leaf_count,
    merkle_root: d.merkle_root,
  }
}
