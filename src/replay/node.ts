import { isId } from '../core/bytes.js'
import { canonicalJson } from '../core/canonical.js'
import { normalizeMetadata, type StorageMetadata } from '../core/metadata.js'
import { recordDigest, type VersionKind } from '../core/record.js'
import { LogCorruptError, LogIdentityMismatchError } from '../log/errors.js'
import { validateNodeId } from '../log/event.js'
import type { StorageEvent } from '../log/index.js'
import { decodeManifest, type ShardStore, type StoreSublevels, toIndexEntry } from '../store/index.js'
import { type IndexState, type NodeState, nodeState, type ShardState } from './state.js'

/** The live state of a node, read from its store's key spaces (no write, so a stopped node's dir is safe). */
export async function liveNodeState(nodeId: string, store: ShardStore | StoreSublevels): Promise<NodeState> {
  const subs = 'sublevels' in store ? store.sublevels : store
  const index: IndexState[] = []
  for await (const value of subs.index.values()) {
    const e = toIndexEntry(value)
    index.push({
      object_id: e.object_id,
      version: e.version,
      kind: e.kind,
      hash_commit: e.hash_commit,
      record_digest: recordDigest(e.record),
      content_size: e.record.content_size,
      home: e.home,
      catalogue_homes: e.record.catalogue_homes,
      metadata: e.metadata,
    })
  }
  const shards: ShardState[] = []
  for await (const value of subs.manifests.values()) {
    const m = decodeManifest(value)
    shards.push({
      shard_id: m.shardId,
      object_id: m.objectId,
      version: m.version,
      shard_index: m.shardIndex,
      length: m.length,
      leaf_count: m.leafCount,
      merkle_root: m.merkleRoot,
      hash_commit: m.hashCommit,
    })
  }
  return nodeState(nodeId, index, shards)
}

interface CommitDetails {
  kind: VersionKind
  home: boolean
  record_digest: string
  metadata: StorageMetadata
  catalogue_homes: string[]
  shards: CommitShard[]
}

interface CommitShard {
  shard_index: number
  shard_id: string
  length: number
  leaf_count: number
  merkle_root: string
}

const KINDS: readonly string[] = ['STORE', 'UPDATE', 'DELETE_MARKER']

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

/**
 * The REPLICA_COMMIT details a replay reads, every field checked: a node writes them from a record
 * it validated, so anything else is a damaged log (`LOG_CORRUPT` naming the entry), never a crash
 * later or `INVALID_INPUT` (which would blame the command's arguments).
 */
export function commitDetails(event: StorageEvent): CommitDetails {
  const corrupt = (what: string) =>
    new LogCorruptError(`REPLICA_COMMIT entry ${event.seq} (node ${event.node_id}): ${what}`)
  if (
    !isId(event.object_id) ||
    !isId(event.hash_commit) ||
    !isCount(event.version) ||
    !isCount(event.content_size)
  ) {
    throw corrupt('object_id, version, hash_commit and content_size must be set')
  }
  const d = event.details
  if (d === null || typeof d !== 'object' || Array.isArray(d)) throw corrupt('details must be an object')
  if (typeof d.kind !== 'string' || !KINDS.includes(d.kind))
    throw corrupt('details.kind must be STORE, UPDATE or DELETE_MARKER')
  if (typeof d.home !== 'boolean') throw corrupt('details.home must be a boolean')
  if (!isId(d.record_digest)) throw corrupt('details.record_digest must be 64 lower-case hex characters')
  let metadata: StorageMetadata
  try {
    metadata = normalizeMetadata(d.metadata)
  } catch (err) {
    throw corrupt(`details.metadata: ${(err as Error).message}`)
  }
  // The node logs the normalized form; metadata that normalizes to something else was altered.
  if (canonicalJson(metadata) !== canonicalJson(d.metadata))
    throw corrupt('details.metadata is not normalized')
  if (!Array.isArray(d.catalogue_homes)) throw corrupt('details.catalogue_homes must be an array')
  const homes = d.catalogue_homes.map((h, i) => {
    try {
      return validateNodeId(h)
    } catch {
      throw corrupt(`details.catalogue_homes[${i}] is not a node id`)
    }
  })
  if (!Array.isArray(d.shards)) throw corrupt('details.shards must be an array')
  const shards = d.shards.map((s, i) => commitShard(s, `details.shards[${i}]`, corrupt))
  return {
    kind: d.kind as VersionKind,
    home: d.home,
    record_digest: d.record_digest,
    metadata,
    catalogue_homes: homes,
    shards,
  }
}

function commitShard(value: unknown, path: string, corrupt: (what: string) => LogCorruptError): CommitShard {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw corrupt(`${path} must be an object`)
  const s = value as Record<string, unknown>
  const count = (key: string): number => {
    const n = s[key]
    if (!isCount(n)) throw corrupt(`${path}.${key} must be a non-negative safe integer`)
    return n
  }
  const id = (key: string): string => {
    const v = s[key]
    if (!isId(v)) throw corrupt(`${path}.${key} must be 64 lower-case hex characters`)
    return v
  }
  return {
    shard_index: count('shard_index'),
    shard_id: id('shard_id'),
    length: count('length'),
    leaf_count: count('leaf_count'),
    merkle_root: id('merkle_root'),
  }
}

/**
 * Rebuilds a node's index and shards from its own log: every REPLICA_COMMIT is what the node
 * committed in the same batch as the entry, so the log alone determines the state.
 */
export async function replayNodeLog(
  nodeId: string,
  events: AsyncIterable<StorageEvent> | Iterable<StorageEvent>,
): Promise<NodeState> {
  const index = new Map<string, IndexState>()
  const shards = new Map<string, ShardState>()
  for await (const event of events) {
    // A log counts for the node that wrote it: filed under another id it would vote as a second node.
    if (event.node_id !== nodeId) {
      throw new LogIdentityMismatchError(
        `the log replayed as node ${nodeId} holds entry ${event.seq} of node ${event.node_id}`,
      )
    }
    if (event.event_type !== 'REPLICA_COMMIT') continue
    const d = commitDetails(event)
    const key = `${event.object_id}/${event.version}`
    const prior = index.get(key)
    index.set(key, {
      object_id: event.object_id!,
      version: event.version!,
      kind: d.kind,
      hash_commit: event.hash_commit!,
      record_digest: d.record_digest,
      content_size: event.content_size!,
      home: (prior?.home ?? false) || d.home,
      catalogue_homes: d.catalogue_homes,
      metadata: d.metadata,
    })
    for (const s of d.shards) {
      if (shards.has(s.shard_id)) continue
      shards.set(s.shard_id, {
        shard_id: s.shard_id,
        object_id: event.object_id!,
        version: event.version!,
        shard_index: s.shard_index,
        length: s.length,
        leaf_count: s.leaf_count,
        merkle_root: s.merkle_root,
        hash_commit: event.hash_commit!,
      })
    }
  }
  return nodeState(nodeId, [...index.values()], [...shards.values()])
}
