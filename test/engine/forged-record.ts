import { atrCost } from '../../src/core/atr.js'
import { toHex } from '../../src/core/bytes.js'
import { shardId } from '../../src/core/ids.js'
import { normalizeMetadata } from '../../src/core/metadata.js'
import { DEFAULT_PARAMS, type ProtocolParams } from '../../src/core/params.js'
import type { VersionRecord } from '../../src/core/record.js'
import { computeShardLayout } from '../../src/core/shards.js'
import type { WholeShardRequest } from '../../src/engine/transport.js'

/**
 * A well-formed VersionRecord for `content` that no coordinator decided: what any eligible peer can
 * build and send to a node's NodeService (replica/commit). `hash_commit` is arbitrary: nothing checks it.
 */
export function forgeRecord(args: {
  oid: string
  version: number
  content: Uint8Array
  replicas: string[][]
  homes: string[]
  tick?: number
  params?: ProtocolParams
}): { record: VersionRecord; shards: WholeShardRequest[] } {
  const params = args.params ?? DEFAULT_PARAMS
  const layout = computeShardLayout(args.content, params)
  const record: VersionRecord = {
    object_id: args.oid,
    version: args.version,
    kind: args.version === 1 ? 'STORE' : 'UPDATE',
    hash_commit: 'ab'.repeat(32),
    content_size: args.content.length,
    metadata: normalizeMetadata({ author_node_id: 'mallory', created_at_tick: args.tick ?? 1, tags: [] }),
    schema_version: params.schemaVersion,
    block_size_bytes: params.blockSizeBytes,
    epoch: 0,
    timestamp_tick: args.tick ?? 1,
    atr_cost: atrCost(args.content.length, params.numShardsPerObject, params.replicationFactor).toString(),
    shards: layout.map((l) => ({
      shard_index: l.index,
      shard_id: shardId(args.oid, args.version, l.index),
      length: l.length,
      leaf_count: l.blockCount,
      merkle_root: toHex(l.merkleRoot),
      replicas: args.replicas[l.index]!,
    })),
    catalogue_homes: args.homes,
  }
  const shards = layout.map((l) => ({
    header: {
      object_id: args.oid,
      version: args.version,
      shard_index: l.index,
      shard_id: shardId(args.oid, args.version, l.index),
      length: l.length,
      block_size_bytes: params.blockSizeBytes,
    },
    bytes: args.content.subarray(l.start, l.start + l.length),
  }))
  return { record, shards }
}
