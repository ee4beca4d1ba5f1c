import { compareBytes, fromHex } from '../core/bytes.js'
import { canonicalBytes } from '../core/canonical.js'
import { sha3Hex } from '../core/hash.js'
import type { StorageMetadata } from '../core/metadata.js'
import type { VersionKind } from '../core/record.js'

/** One version as a node keeps it in its object index. */
export interface IndexState {
  object_id: string
  version: number
  kind: VersionKind
  hash_commit: string
  /** recordDigest of the whole VersionRecord: the unit reads vote on. */
  record_digest: string
  content_size: number
  home: boolean
  catalogue_homes: string[]
  metadata: StorageMetadata
}

/** One committed shard replica as a node keeps it. */
export interface ShardState {
  shard_id: string
  object_id: string
  version: number
  shard_index: number
  length: number
  leaf_count: number
  merkle_root: string
  hash_commit: string
}

export interface StorageMetrics {
  objects: number
  versions: number
  shards: number
  bytes_stored: number
}

/** What replay must rebuild of one node: its index, its shards and their metrics. */
export interface NodeState {
  node_id: string
  index: IndexState[]
  shards: ShardState[]
  metrics: StorageMetrics
}

export function compareVersionKey(
  a: { object_id: string; version: number },
  b: { object_id: string; version: number },
): number {
  return compareBytes(fromHex(a.object_id), fromHex(b.object_id)) || a.version - b.version
}

export function compareShardKey(a: { shard_id: string }, b: { shard_id: string }): number {
  return compareBytes(fromHex(a.shard_id), fromHex(b.shard_id))
}

/** Sorted form with derived metrics; two equal states have byte-identical canonical JSON. */
export function nodeState(nodeId: string, index: IndexState[], shards: ShardState[]): NodeState {
  const sortedIndex = [...index].sort(compareVersionKey)
  const sortedShards = [...shards].sort(compareShardKey)
  return {
    node_id: nodeId,
    index: sortedIndex,
    shards: sortedShards,
    metrics: {
      objects: new Set(sortedIndex.map((e) => e.object_id)).size,
      versions: sortedIndex.length,
      shards: sortedShards.length,
      bytes_stored: sortedShards.reduce((sum, s) => sum + s.length, 0),
    },
  }
}

/** SHA3-256 of the state's RFC 8785 canonical JSON. */
export function stateHash(state: unknown): string {
  return sha3Hex(canonicalBytes(state))
}
