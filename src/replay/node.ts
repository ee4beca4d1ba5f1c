import { InvalidInputError } from '../core/errors.js'
import type { StorageMetadata } from '../core/metadata.js'
import { recordDigest, type VersionKind } from '../core/record.js'
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
  shards: Array<{
    shard_index: number
    shard_id: string
    length: number
    leaf_count: number
    merkle_root: string
  }>
}

/** The REPLICA_COMMIT details a replay reads; anything else in a commit entry is a corrupt log. */
export function commitDetails(event: StorageEvent): CommitDetails {
  const d = event.details as unknown as CommitDetails | null
  if (
    d === null ||
    typeof d.home !== 'boolean' ||
    typeof d.record_digest !== 'string' ||
    typeof d.kind !== 'string' ||
    d.metadata === null ||
    typeof d.metadata !== 'object' ||
    !Array.isArray(d.shards) ||
    !Array.isArray(d.catalogue_homes) ||
    event.object_id === null ||
    event.version === null ||
    event.hash_commit === null ||
    event.content_size === null
  ) {
    throw new InvalidInputError(`REPLICA_COMMIT entry ${event.seq} lacks the fields replay needs`)
  }
  return d
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
