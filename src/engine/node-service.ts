import { toHex } from '../core/bytes.js'
import { InvalidInputError } from '../core/errors.js'
import type { ProtocolParams } from '../core/params.js'
import { type StorageProof, storageProofOf } from '../core/proof.js'
import { recordDigest, type VersionRecord, validateVersionRecord } from '../core/record.js'
import type { EventLog } from '../log/index.js'
import type { Membership } from '../membership/types.js'
import type { ShardStore, StagedShard, ShardHeader as StoreShardHeader } from '../store/index.js'
import { type AcceptanceKeys, checkAcceptances, signAcceptance } from './acceptance.js'
import type { DecidedRecords } from './decided-records.js'
import { AegisContextMissingError } from './errors.js'
import type { NodeListFilters } from './list.js'
import { checkMetadataLimits } from './metadata-limits.js'
import { placementProblem } from './record-placement.js'
import type {
  CommitRequest,
  CommitResult,
  ShardHeader,
  ShardManifestInfo,
  ShardSink,
  StagedShardInfo,
  WholeShardRequest,
} from './transport.js'

export interface NodeServiceComponents {
  nodeId: string
  store: ShardStore
  log: EventLog
  params: ProtocolParams
  /**
   * The epochs a committed record must be placed in: its homes and replicas are checked against
   * them. Absent only for a store used on its own (a tool, a test of the store), where nothing comes
   * from peers.
   */
  membership?: Membership
  /**
   * How this node signs what it accepts as a home, and checks the homes' acceptances a commit to a
   * holder that is no home must carry (acceptance.ts). Required with `membership`; absent, like it,
   * only for a store used on its own.
   */
  acceptanceKeys?: AcceptanceKeys
  /**
   * Where a record committed here as a holder that is no home goes once every home's acceptance
   * verified: the node's engine then reads it without asking the homes (decided-records.ts).
   */
  decided?: DecidedRecords
}

/**
 * What one node does with its own store and log: stage, commit, serve shards and proofs. The
 * in-process transport calls it directly; the libp2p protocol handler calls the same methods.
 * Commits are serialized by one lock so the append-only checks and the log chain see one order.
 */
export class NodeService {
  readonly nodeId: string
  private readonly store: ShardStore
  private readonly log: EventLog
  private readonly params: ProtocolParams
  private readonly membership?: Membership
  private readonly acceptanceKeys?: AcceptanceKeys
  private readonly decided?: DecidedRecords

  constructor(components: NodeServiceComponents) {
    this.nodeId = components.nodeId
    this.store = components.store
    this.log = components.log
    this.params = components.params
    this.membership = components.membership
    this.acceptanceKeys = components.acceptanceKeys
    this.decided = components.decided
    if (this.membership !== undefined && this.acceptanceKeys === undefined) {
      throw new InvalidInputError('a node that takes commits from peers needs acceptance keys')
    }
  }

  async openShard(header: ShardHeader, options: { signal?: AbortSignal } = {}): Promise<ShardSink> {
    const writer = await this.store.beginShard(this.storeHeader(header), options)
    const info = (staged: StagedShard) => this.stagedInfo(staged)
    return {
      write: (chunk, leaf) => writer.write(chunk, leaf),
      finish: async () => info(await writer.finish()),
      abort: async () => {
        await writer.abort()
      },
    }
  }

  /** Stages shards whose bytes are all at hand, all in one database write: every one or none. */
  async stageShards(
    shards: readonly WholeShardRequest[],
    options: { signal?: AbortSignal } = {},
  ): Promise<StagedShardInfo[]> {
    if (!Array.isArray(shards)) throw new InvalidInputError('shards must be a list')
    const staged = await this.store.stageWhole(
      shards.map((s) => ({ header: this.storeHeader(s?.header), bytes: s.bytes })),
      options,
    )
    if (options.signal?.aborted === true) {
      // Nobody is left to commit or abort them: take them back now rather than at the sweep.
      await this.store.discardStaging(staged.map((s) => s.stagingId)).catch(() => {})
      options.signal.throwIfAborted()
    }
    return staged.map((s) => this.stagedInfo(s))
  }

  private storeHeader(header: ShardHeader): StoreShardHeader {
    if (header === null || typeof header !== 'object')
      throw new InvalidInputError('shard header must be an object')
    if (header.block_size_bytes !== this.params.blockSizeBytes) {
      throw new InvalidInputError(
        `block size ${header.block_size_bytes} is not the governed ${this.params.blockSizeBytes}`,
      )
    }
    return {
      objectId: header.object_id,
      version: header.version,
      shardIndex: header.shard_index,
      shardId: header.shard_id,
      length: header.length,
      blockSizeBytes: header.block_size_bytes,
    }
  }

  private stagedInfo(staged: StagedShard): StagedShardInfo {
    return {
      node_id: this.nodeId,
      staging_id: staged.stagingId,
      shard_id: staged.shardId,
      length: staged.length,
      leaf_count: staged.leafCount,
      merkle_root: staged.merkleRoot,
    }
  }

  async commitVersion(request: CommitRequest): Promise<CommitResult> {
    const record = validateVersionRecord(request.record, this.params)
    // A record from any coordinator meets the same node limits as a request here, before it is kept.
    checkMetadataLimits(record.metadata)
    this.checkPlacement(record)
    const home = record.catalogue_homes.includes(this.nodeId)
    const staged = this.checkStaged(record, request.staged)
    if (!home && staged.length === 0) {
      throw new InvalidInputError('commit names neither a shard this node staged nor a record it keeps')
    }
    const keys = this.acceptanceKeys
    // Hashed once: the acceptances, the store's idempotence check and the log entry all name it.
    const digest = recordDigest(record)
    // A holder that is no home keeps only what a majority of the homes accepted: otherwise any
    // eligible peer could commit a made-up record first and make it refuse the decided one.
    const vouching =
      !home && keys !== undefined ? await checkAcceptances(record, request.acceptances, keys, digest) : 0
    const result = await this.commitLocked(record, digest, home, staged)
    if (vouching === record.catalogue_homes.length) this.decided?.remember(record.epoch, record)
    if (!home || keys === undefined) return result
    return { ...result, acceptance: await signAcceptance(keys, record, digest) }
  }

  private commitLocked(
    record: VersionRecord,
    digest: string,
    home: boolean,
    staged: ReadonlyArray<{ shard_id: string; staging_id: string }>,
  ): Promise<CommitResult> {
    return this.store.writeLock.run(async () => {
      // `record` was validated above with this node's params: the store need not do it again.
      const prepared = await this.store.prepareCommit(
        record,
        { home, shards: staged.map((s) => ({ shardId: s.shard_id, stagingId: s.staging_id })) },
        { params: this.params, digest },
      )
      const shardIds = staged.map((s) => s.shard_id)
      if (prepared.summary.idempotent) {
        // Nothing new is held: only a retried transfer's duplicate blocks go, and no entry is logged.
        if (prepared.ops.length > 0) await this.store.commit(prepared)
        return { node_id: this.nodeId, event_id: null, idempotent: true, home, shard_ids: shardIds }
      }
      const held = record.shards.filter((s) => shardIds.includes(s.shard_id))
      const event = await this.log.append(
        {
          event_type: 'REPLICA_COMMIT',
          epoch: record.epoch,
          timestamp_tick: record.timestamp_tick,
          object_id: record.object_id,
          version: record.version,
          hash_commit: record.hash_commit,
          content_size: record.content_size,
          shard_ids: shardIds,
          replica_sets: replicaSets(record),
          atr_cost: record.atr_cost,
          error_code: null,
          error_detail: null,
          details: {
            kind: record.kind,
            home,
            record_digest: digest,
            metadata: record.metadata,
            catalogue_homes: record.catalogue_homes,
            shards: held.map((s) => ({
              shard_index: s.shard_index,
              shard_id: s.shard_id,
              length: s.length,
              leaf_count: s.leaf_count,
              merkle_root: s.merkle_root,
            })),
          },
        },
        prepared.ops,
        // On disk before the answer: the coordinator counts this commit toward what it acknowledges.
        { durable: true },
      )
      this.store.committed(prepared)
      return { node_id: this.nodeId, event_id: event.event_id, idempotent: false, home, shard_ids: shardIds }
    })
  }

  async abortStaging(stagingIds: readonly string[]): Promise<void> {
    await this.store.discardStaging(stagingIds)
  }

  async getRecord(objectId: string, version: number | 'latest'): Promise<VersionRecord | undefined> {
    if (version === 'latest') {
      const latest = await this.store.latestVersion(objectId)
      if (latest === undefined) return undefined
      return (await this.store.getRecord(objectId, latest))?.record
    }
    return (await this.store.getRecord(objectId, version))?.record
  }

  async getManifest(shardId: string): Promise<ShardManifestInfo | undefined> {
    const m = await this.store.getManifest(shardId)
    if (m === undefined) return undefined
    return {
      object_id: m.objectId,
      version: m.version,
      shard_index: m.shardIndex,
      shard_id: m.shardId,
      length: m.length,
      leaf_count: m.leafCount,
      merkle_root: m.merkleRoot,
      hash_commit: m.hashCommit,
      leaf_hashes: m.leafHashes.map(toHex),
    }
  }

  fetchShard(
    shardId: string,
    fromBlock: number,
    options: { signal?: AbortSignal } = {},
  ): AsyncIterable<Uint8Array> {
    // Every caller checks each block against leaf hashes it verified against the record's root
    // (docs/protocol.md 4.11) and fails over on a changed one, so hashing here as well only added a
    // SHA3 pass over every byte a read moves. A lost block is still an error here; a changed one is
    // not noticed by this node while it serves (its readers skip it), only by `qfs-node scrub`.
    return this.store.readShard(shardId, { fromBlock, signal: options.signal, hashBlocks: false })
  }

  /** Answers a challenge on one block of a shard this node holds (the store checks the block first). */
  async proveShard(shardId: string, leafIndex: number): Promise<StorageProof> {
    const p = await this.store.proveBlock(shardId, leafIndex)
    return storageProofOf(p)
  }

  async listRecords(filters: NodeListFilters): Promise<VersionRecord[]> {
    const page = await this.store.listRecords({ ...filters, home_only: true })
    return page.entries.map((e) => e.record)
  }

  /** A record whose homes or replicas are not its epoch's placement is kept by no node. */
  private checkPlacement(record: VersionRecord): void {
    if (this.membership === undefined) return
    const problem = placementProblem(record, this.membership)
    if (problem === undefined) return
    if (problem.epochUnknown) throw new AegisContextMissingError(problem.reason)
    throw new InvalidInputError(problem.reason)
  }

  private checkStaged(record: VersionRecord, staged: CommitRequest['staged']): CommitRequest['staged'] {
    if (!Array.isArray(staged)) throw new InvalidInputError('staged must be an array')
    const seen = new Set<string>()
    for (const s of staged) {
      const shard = record.shards.find((d) => d.shard_id === s?.shard_id)
      if (shard === undefined) throw new InvalidInputError('staged shard is not part of the record')
      if (!shard.replicas.includes(this.nodeId))
        throw new InvalidInputError('staged shard is not placed on this node')
      if (typeof s.staging_id !== 'string' || seen.has(s.shard_id))
        throw new InvalidInputError('bad staging entry')
      seen.add(s.shard_id)
    }
    return staged
  }
}

export function replicaSets(record: VersionRecord): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const s of record.shards) out[s.shard_id] = [...s.replicas]
  return out
}
