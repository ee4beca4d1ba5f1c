import type { DeterministicTime } from '../core/time.js'
import type { EventFields, EventLog } from '../log/index.js'
import type { Membership } from '../membership/types.js'
import type { StagedShardRef } from '../store/index.js'
import type { CallOptions, OpenedRead, PutOptions, ReadContentOptions, StorageEngineApi } from './api.js'

export type { CallOptions, OpenedRead, PutOptions, ReadContentOptions } from './api.js'

import { DEFAULT_TIMEOUTS, type EngineContext, type EngineTimeouts } from './context.js'
import { DecidedRecords } from './decided-records.js'
import { EngineCalls } from './engine-calls.js'
import { getStorageProofCall, readContentCall } from './engine-read.js'
import { writeCall } from './engine-write.js'
import { listVersions, validateFilters } from './list.js'
import { type PeerHealth, RecentFailures } from './peer-health.js'
import {
  type EngineFailure,
  failure,
  type ListResponse,
  type ProofResponse,
  type ReadResponse,
  readSuccess,
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
   * Record bytes all the nodes together answer for one list_objects page (default
   * LIST_BYTES_PER_PAGE; a node answers at most MAX_LIST_ANSWER_BYTES whatever its share); a page
   * may end short of `limit` with a `next_cursor` when they run out.
   */
  listPageBytes?: number
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
  private readonly listPageBytes: number | undefined

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
    if (
      init.listPageBytes !== undefined &&
      (!Number.isSafeInteger(init.listPageBytes) || init.listPageBytes < 1)
    ) {
      throw new TypeError('listPageBytes must be a positive integer')
    }
    this.listPageBytes = init.listPageBytes
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
    return readContentCall(this.calls, objectId, version, options)
  }

  async getStorageProof(
    objectId: string,
    version: number,
    shardId: string,
    options: CallOptions & { leafIndex?: number } = {},
  ): Promise<ProofResponse> {
    return getStorageProofCall(this.calls, objectId, version, shardId, options)
  }

  async listObjects(filters: unknown = {}, options: CallOptions = {}): Promise<ListResponse> {
    const fields: Partial<EventFields> = { event_type: 'LIST_OBJECTS' }
    try {
      const f = validateFilters(filters)
      const view = this.calls.view(options.epoch)
      const oneObject = f.prefix?.length === 64
      const page = await listVersions(this.calls.ctx, view.eligible.nodes, f, {
        signal: options.signal,
        scanBudget: this.listScanBudget,
        pageBytes: this.listPageBytes,
        homes: oneObject ? view.eligible.catalogueHomes(f.prefix!, view.params.replicationFactor) : undefined,
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
}
