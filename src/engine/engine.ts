import { parseId } from '../core/bytes.js'
import { challengeIndex, challengeSeed } from '../core/challenge.js'
import { InvalidInputError } from '../core/errors.js'
import { validateVersion } from '../core/ids.js'
import type { DeterministicTime } from '../core/time.js'
import type { EventFields, EventLog } from '../log/index.js'
import type { Membership } from '../membership/types.js'
import type { StagedShardRef } from '../store/index.js'
import type { CallOptions, OpenedRead, PutOptions, ReadContentOptions, StorageEngineApi } from './api.js'

export type { CallOptions, OpenedRead, PutOptions, ReadContentOptions } from './api.js'

import { resolveRecord } from './catalogue.js'
import { DEFAULT_TIMEOUTS, type EngineContext, type EngineTimeouts } from './context.js'
import { DecidedRecords } from './decided-records.js'
import { EngineCalls } from './engine-calls.js'
import { writeCall } from './engine-write.js'
import { ObjectNotFoundError } from './errors.js'
import { listVersions, validateFilters } from './list.js'
import { replicaSets } from './node-service.js'
import { type PeerHealth, RecentFailures } from './peer-health.js'
import { FirstBlockPrefetch } from './prefetch.js'
import { proveShard, readVersion } from './read.js'
import {
  type EngineFailure,
  failure,
  type ListResponse,
  type ProofResponse,
  type ReadResponse,
  readSuccess,
  type ShardReadInfo,
  type StoreResponse,
} from './responses.js'
import { type RollForwardResult, rollForwardStaged } from './roll-forward.js'
import type { NodeTransport } from './transport.js'
import type { ContentSource, WriteArgs } from './write.js'

export interface StorageEngineComponents {
  nodeId: string
  transport: NodeTransport
  membership: Membership
  /** The coordinating node's own log: every public call it serves leaves one event there. */
  log: EventLog
  time: DeterministicTime
  /** Recent failures of peers, which order reads try replicas in; default: remembered for 30 s. */
  health?: PeerHealth
  /**
   * Records every home is known to hold, shared with the node's service, whose commits as a holder
   * fill it too (LocalNode.decided); default: the engine's own, of `decidedRecordsKept` records.
   */
  decided?: DecidedRecords
}

export interface StorageEngineInit {
  timeouts?: Partial<EngineTimeouts>
  /** Replicas per shard that must confirm before a write is acknowledged (default: a majority). */
  writeQuorum?: number
  /**
   * How far ahead of the bytes being sent a write opens shard streams (default 4 MiB). Each opened
   * replica waits for its first block for at most its idle timeout, so a daemon derives it from the
   * slowest client it accepts (net/write-admission.ts `replicaPreopenBytes`).
   */
  preopenBytes?: number
  /**
   * Catalogue entries each node examines for one list_objects page (default and most
   * MAX_LIST_SCAN_ENTRIES); a page may end short of `limit` with a `next_cursor` when it runs out.
   */
  listScanBudget?: number
  /**
   * Decided records a node keeps so a read of a version it resolved lately skips the homes (default
   * DECIDED_RECORDS_KEPT; 0 asks the homes on every read). Not with the `decided` component.
   */
  decidedRecordsKept?: number
}

/**
 * The StorageEngine of spec §5: any eligible node coordinates reads and writes over a NodeTransport. The
 * methods answer the QFS interface shapes and never throw for a request's failure.
 */
export class StorageEngine implements StorageEngineApi {
  private readonly calls: EngineCalls
  private readonly writeLimits: Pick<WriteArgs, 'writeQuorum' | 'preopenBytes'>
  private readonly listScanBudget: number | undefined

  constructor(components: StorageEngineComponents, init: StorageEngineInit = {}) {
    const ctx: EngineContext = {
      nodeId: components.nodeId,
      transport: components.transport,
      timeouts: { ...DEFAULT_TIMEOUTS, ...init.timeouts },
      health: components.health ?? new RecentFailures(),
    }
    if (
      init.preopenBytes !== undefined &&
      (!Number.isSafeInteger(init.preopenBytes) || init.preopenBytes < 0)
    ) {
      throw new TypeError('preopenBytes must be a non-negative integer')
    }
    this.writeLimits = { writeQuorum: init.writeQuorum, preopenBytes: init.preopenBytes }
    if (
      init.listScanBudget !== undefined &&
      (!Number.isSafeInteger(init.listScanBudget) || init.listScanBudget < 1)
    ) {
      throw new TypeError('listScanBudget must be a positive integer')
    }
    this.listScanBudget = init.listScanBudget
    if (components.decided !== undefined && init.decidedRecordsKept !== undefined)
      throw new TypeError("decidedRecordsKept sizes the engine's own records: not with a shared decided")
    this.calls = new EngineCalls(
      ctx,
      components.membership,
      components.log,
      components.time,
      components.decided ?? new DecidedRecords(init.decidedRecordsKept),
    )
  }

  putContent(
    objectId: string,
    version: number,
    content: Uint8Array | ContentSource,
    metadata: unknown,
    options: PutOptions = {},
  ): Promise<StoreResponse> {
    return writeCall(this.calls, this.writeLimits, objectId, version, content, metadata, undefined, options)
  }

  /** A DELETE_MARKER is a new, empty version: history stays, the latest read answers not found. */
  deleteContent(
    objectId: string,
    version: number,
    metadata: unknown,
    options: PutOptions = {},
  ): Promise<StoreResponse> {
    return writeCall(
      this.calls,
      this.writeLimits,
      objectId,
      version,
      new Uint8Array(0),
      metadata,
      'DELETE_MARKER',
      options,
    )
  }

  async getContent(objectId: string, version?: number, options: CallOptions = {}): Promise<ReadResponse> {
    const opened = await this.readContent(objectId, version, options)
    if (!('content' in opened)) return opened
    try {
      const parts: Uint8Array[] = []
      for await (const block of opened.content) parts.push(block)
      return readSuccess(opened, parts)
    } catch (err) {
      return failure(err, opened.storage_event_id)
    }
  }

  /** Streaming read: the record is resolved and logged first, the bytes verify as they flow. */
  async readContent(
    objectId: string,
    version?: number,
    options: ReadContentOptions = {},
  ): Promise<OpenedRead | EngineFailure> {
    const fields: Partial<EventFields> = { event_type: 'READ' }
    let prefetch: FirstBlockPrefetch | undefined
    try {
      parseId(objectId, 'object_id')
      fields.object_id = objectId
      if (version !== undefined) fields.version = validateVersion(version)
      prefetch = version === undefined ? undefined : this.prefetch(objectId, version, options.signal)
      const record = await this.lookup(objectId, version ?? 'latest', options)
      if (version === undefined && record.kind === 'DELETE_MARKER') {
        throw new ObjectNotFoundError(`object ${objectId} was deleted at version ${record.version}`)
      }
      const proofs: ShardReadInfo[] = []
      const event = await this.calls.record({
        ...fields,
        version: record.version,
        hash_commit: record.hash_commit,
        content_size: record.content_size,
        shard_ids: record.shards.map((s) => s.shard_id),
        replica_sets: replicaSets(record),
      })
      return {
        ok: true,
        object_id: objectId,
        version: record.version,
        kind: record.kind,
        hash_commit: record.hash_commit,
        content_size: record.content_size,
        metadata: record.metadata,
        storage_event_id: event,
        record,
        content: readVersion(
          this.calls.ctx,
          record,
          proofs,
          options.signal,
          options.checkCommit !== false,
          prefetch,
        ),
        proofs,
      }
    } catch (err) {
      prefetch?.cancel()
      return failure(err, await this.calls.recordFailure(fields, err))
    }
  }

  async getStorageProof(
    objectId: string,
    version: number,
    shardId: string,
    options: CallOptions & { leafIndex?: number } = {},
  ): Promise<ProofResponse> {
    const fields: Partial<EventFields> = { event_type: 'GET_PROOF' }
    try {
      parseId(objectId, 'object_id')
      fields.object_id = objectId
      fields.version = validateVersion(version)
      parseId(shardId, 'shard_id')
      fields.shard_ids = [shardId]
      const view = this.calls.view(options.epoch)
      const record = await this.lookup(objectId, fields.version, options)
      // Unless told which block, answer the epoch's challenge: a leaf nobody could pick in advance.
      const { proof, shard, answeredBy } = await proveShard(
        this.calls.ctx,
        record,
        shardId,
        (s) => {
          if (options.leafIndex === undefined) {
            return challengeIndex(challengeSeed(view.epoch, view.snapshotHash), s.shard_id, s.leaf_count)
          }
          if (
            !Number.isSafeInteger(options.leafIndex) ||
            options.leafIndex < 0 ||
            options.leafIndex >= s.leaf_count
          ) {
            throw new InvalidInputError(`leaf index must be in 0..${s.leaf_count - 1}`)
          }
          return options.leafIndex
        },
        options.signal,
      )
      const event = await this.calls.record({
        ...fields,
        epoch: view.epoch,
        hash_commit: record.hash_commit,
        replica_sets: { [shardId]: shard.replicas },
        details: { leaf_index: proof.leaf_index, answered_by: answeredBy, verified: true },
      })
      return {
        ok: true,
        object_id: objectId,
        version: record.version,
        shard_id: shardId,
        merkle_root: shard.merkle_root,
        proof,
        assigned_nodes: shard.replicas,
        answered_by: answeredBy,
        storage_event_id: event,
      }
    } catch (err) {
      return failure(err, await this.calls.recordFailure(fields, err))
    }
  }

  async listObjects(filters: unknown = {}, options: CallOptions = {}): Promise<ListResponse> {
    const fields: Partial<EventFields> = { event_type: 'LIST_OBJECTS' }
    try {
      const f = validateFilters(filters)
      const view = this.calls.view(options.epoch)
      const page = await listVersions(this.calls.ctx, view.eligible.nodes, f, {
        signal: options.signal,
        scanBudget: this.listScanBudget,
        membership: this.calls.membership,
      })
      const event = await this.calls.record({
        ...fields,
        epoch: view.epoch,
        details: { filters: f, count: page.objects.length },
      })
      return { ok: true, ...page, storage_event_id: event }
    } catch (err) {
      return failure(err, await this.calls.recordFailure(fields, err))
    }
  }

  /**
   * Commits the stale staged shards of this node that a decided record still needs (a coordinator
   * that stopped between decide and commit) and says which no record needs; background work for the
   * staging sweep, not a StorageEngine operation, so it logs no event of its own (each commit does).
   */
  async rollForwardStaged(
    refs: readonly StagedShardRef[],
    options: CallOptions = {},
  ): Promise<RollForwardResult> {
    return rollForwardStaged(this.calls.ctx, this.calls.view(options.epoch), refs, options.signal)
  }

  /**
   * First blocks asked for while an exact version's record is resolved (prefetch.ts), unless this
   * node keeps the record and the lookup costs nothing.
   */
  private prefetch(objectId: string, version: number, signal?: AbortSignal): FirstBlockPrefetch | undefined {
    const view = this.calls.membership.current()
    if (signal?.aborted === true || this.calls.decided.has(view.epoch, objectId, version)) return undefined
    return new FirstBlockPrefetch(this.calls.ctx, view, objectId, version, signal)
  }

  /** The decided record of a version (or of the latest), from the homes or as this node last resolved it. */
  private async lookup(objectId: string, version: number | 'latest', options: CallOptions) {
    const view = this.calls.membership.current()
    // A call already given up fails as it would asking the homes, not with a kept record.
    options.signal?.throwIfAborted()
    if (version !== 'latest') {
      const known = this.calls.decided.get(view.epoch, objectId, version)
      if (known !== undefined) return known
    }
    const homes = view.eligible.catalogueHomes(objectId, view.params.replicationFactor)
    // Kept only once every home answered it: a home that lacks it is caught up by the reads that
    // still ask, which a kept record would stop.
    return resolveRecord(this.calls.ctx, homes, objectId, version, options.signal, (record) => {
      if (record.object_id === objectId && (version === 'latest' || record.version === version))
        this.calls.decided.remember(view.epoch, record)
    })
  }
}
