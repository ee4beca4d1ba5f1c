import type { StorageProof } from '../core/proof.js'
import type { VersionRecord } from '../core/record.js'
import type { Acceptance } from './acceptance.js'
import type { NodeListFilters } from './list.js'

export interface AbortOptions {
  signal?: AbortSignal
}

export interface FetchOptions extends AbortOptions {
  /** Blocks the caller will read (to the shard's end); a transport may fetch a last block cheaper. */
  blocks?: number
  /** The block size of the shard's version (its record's), when the caller knows it. */
  blockSizeBytes?: number
}

/** The first message of a shard push: which shard, how long. */
export interface ShardHeader {
  object_id: string
  version: number
  shard_index: number
  shard_id: string
  length: number
  block_size_bytes: number
}

/** A replica's answer once it has staged (not yet committed) a whole shard. */
export interface StagedShardInfo {
  node_id: string
  staging_id: string
  shard_id: string
  length: number
  leaf_count: number
  merkle_root: string
}

/** A shard whose bytes are all at hand (a small object's): staged in one request with its node's others. */
export interface WholeShardRequest {
  header: ShardHeader
  bytes: Uint8Array
}

/** Push-style writer of one shard to one replica; the coordinator fans one source out to several. */
export interface ShardSink {
  /**
   * `leaf`, when given, is the leaf hash of `chunk`, a whole block the caller hashed itself. Only a
   * sink that stages in this same process may use it (to skip hashing the block again); a sink that
   * sends the bytes to another node ignores it, since that node hashes what it receives.
   */
  write(chunk: Uint8Array, leaf?: Uint8Array): Promise<void>
  /** `options.signal` gives up on the replica's answer (the stream is aborted). */
  finish(options?: AbortOptions): Promise<StagedShardInfo>
  abort(reason?: Error): Promise<void>
}

export interface CommitRequest {
  record: VersionRecord
  /** The shards of `record` this node staged and should now commit. */
  staged: Array<{ shard_id: string; staging_id: string }>
  /** What the homes signed when they accepted `record`: a holder that is no home needs a majority. */
  acceptances?: Acceptance[]
}

export interface CommitResult {
  node_id: string
  /** The REPLICA_COMMIT event in the node's log; null when the commit was idempotent. */
  event_id: string | null
  /** Nothing new was written: the node already held exactly this. */
  idempotent: boolean
  home: boolean
  shard_ids: string[]
  /** A home's signature that it keeps the record (acceptance.ts), for the holders that are none. */
  acceptance?: string
}

export interface ShardManifestInfo {
  object_id: string
  version: number
  shard_index: number
  shard_id: string
  length: number
  leaf_count: number
  merkle_root: string
  hash_commit: string
  leaf_hashes: string[]
}

export interface RecordFilters {
  after?: { object_id: string; version: number }
  limit?: number
  prefix?: string
  tag?: string
  author?: string
  tick_from?: number
  tick_to?: number
}

/**
 * What a coordinator asks of one node, local or remote. The in-process transport calls a
 * NodeService directly; the libp2p transport sends the same requests as frames. Every method
 * rejects with a QfsError whose code the node chose (VERSION_CONFLICT, NOT_FOUND, ...) or with a
 * transport error when the node cannot be reached.
 */
export interface NodeTransport {
  openShard(nodeId: string, header: ShardHeader, options?: AbortOptions): Promise<ShardSink>
  /**
   * Stages shards held whole in memory on one node, all or none, answering in the order asked. A
   * transport that splits them into several requests takes back what the others staged if one fails.
   */
  stageShards(nodeId: string, shards: WholeShardRequest[], options?: AbortOptions): Promise<StagedShardInfo[]>
  commitVersion(nodeId: string, request: CommitRequest, options?: AbortOptions): Promise<CommitResult>
  abortStaging(nodeId: string, stagingIds: string[], options?: AbortOptions): Promise<void>
  /** A version's record, or the node's latest for the object when `version` is 'latest'. */
  getRecord(
    nodeId: string,
    objectId: string,
    version: number | 'latest',
    options?: AbortOptions,
  ): Promise<VersionRecord | undefined>
  getManifest(nodeId: string, shardId: string, options?: AbortOptions): Promise<ShardManifestInfo | undefined>
  /** The shard's blocks in order, starting at `fromBlock`. */
  fetchShard(
    nodeId: string,
    shardId: string,
    fromBlock: number,
    options?: FetchOptions,
  ): AsyncIterable<Uint8Array>
  proveShard(
    nodeId: string,
    shardId: string,
    leafIndex: number,
    options?: AbortOptions,
  ): Promise<StorageProof>
  /**
   * Records this node keeps as a catalogue home, sorted by (object_id, version): at most `limit`,
   * ending early at the scan budget's stop entry or after the record that reaches `max_bytes`.
   */
  listRecords(nodeId: string, filters: NodeListFilters, options?: AbortOptions): Promise<VersionRecord[]>
}
