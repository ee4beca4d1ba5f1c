import type { Multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_PARAMS, type ProtocolParams } from '../core/params.js'
import type { StorageProof } from '../core/proof.js'
import type { VersionRecord } from '../core/record.js'
import { underDeadline } from '../engine/deadline.js'
import { DEFAULT_PAGE, MAX_LIST_ANSWER_BYTES, type NodeListFilters } from '../engine/list.js'
import type { NodeService } from '../engine/node-service.js'
import type {
  AbortOptions,
  CommitRequest,
  CommitResult,
  FetchOptions,
  NodeTransport,
  ShardHeader,
  ShardManifestInfo,
  ShardSink,
  StagedShardInfo,
  WholeShardRequest,
} from '../engine/transport.js'
import { type Dialer, dialTarget, exchangeFailure, openExchange } from './dial.js'
import { FrameInvalidError, RemoteError, SnapshotNotHeldError } from './errors.js'
import type { FrameStream } from './frame-stream.js'
import type { JsonObject } from './frames.js'
import {
  countField,
  exact,
  filtersToJson,
  MAX_ABORT_IDS,
  parseAck,
  parseCommitResult,
  parseProofReply,
  parseRecordReply,
} from './messages.js'
import { type Limits, MIN_KEEPALIVE_PERIOD_MS, PROTOCOLS, resolveLimits } from './protocols.js'
import { readBlocks, readManifest, readRecords } from './replica-answers.js'
import { type RpcAnswer, RpcChannels } from './rpc-client.js'
import { MAX_INLINE_SHARD_BYTES, parseSnapshotReply, type RpcOp } from './rpc-messages.js'
import { InlineShardSink, RemoteShardSink } from './shard-sinks.js'
import { stageShardsOnPeer } from './stage-shards.js'

export interface Libp2pTransportComponents {
  /** The local libp2p node (anything that can open a protocol stream). */
  libp2p: Dialer
  /** A node's multiaddrs from the epoch snapshot. */
  resolve: (nodeId: string) => Multiaddr[]
  /** This node's own service: calls addressed to its id never touch the network. */
  local?: NodeService
}

export interface Libp2pTransportInit {
  limits?: Partial<Limits>
  /** Governed parameters records are checked against (default DEFAULT_PARAMS). */
  params?: ProtocolParams
}

/**
 * NodeTransport over libp2p (docs/protocol.md "replica/*"). Small requests, and shards and blocks
 * of at most MAX_INLINE_SHARD_BYTES, travel on the replica channel (one long-lived stream per peer);
 * larger shards, manifests and listings get a stream each. A remote's ERROR (or `ok: false` answer)
 * becomes a RemoteError with the remote's code; a node that cannot be reached, times out or answers
 * out of protocol is NodeUnavailableError.
 */
export class Libp2pTransport implements NodeTransport {
  private readonly libp2p: Dialer
  private readonly resolve: (nodeId: string) => Multiaddr[]
  private readonly local: NodeService | undefined
  private readonly limits: Limits
  private readonly params: ProtocolParams
  /** Leaf hashes a manifest may announce: a shard of the largest content at the governed block size. */
  private readonly maxLeaves: number
  private readonly rpc: RpcChannels

  constructor(components: Libp2pTransportComponents, init: Libp2pTransportInit = {}) {
    this.libp2p = components.libp2p
    this.resolve = components.resolve
    this.local = components.local
    this.limits = resolveLimits(init.limits)
    this.params = init.params ?? DEFAULT_PARAMS
    this.maxLeaves = Math.ceil(this.limits.maxContentBytes / this.params.blockSizeBytes)
    this.rpc = new RpcChannels(
      (nodeId, signal) => this.open(nodeId, PROTOCOLS.replicaRpc, signal),
      this.limits,
    )
  }

  /** Closes the replica channels (their requests still pending fail). */
  close(): void {
    this.rpc.close()
  }

  private self(nodeId: string): NodeService | undefined {
    return this.local !== undefined && this.local.nodeId === nodeId ? this.local : undefined
  }

  /** One request/answer exchange under the request deadline. */
  private async call<T>(
    nodeId: string,
    protocol: string,
    request: JsonObject,
    options: AbortOptions | undefined,
    answer: (fs: FrameStream, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    return underDeadline(options?.signal, this.limits.requestTimeoutMs, async (signal) => {
      const fs = await this.open(nodeId, protocol, signal)
      try {
        await fs.writeJson(request, signal)
        await fs.close(signal)
        const result = await answer(fs, signal)
        fs.done()
        return result
      } catch (err) {
        fs.abort(err as Error)
        throw exchangeFailure(err, nodeId)
      }
    })
  }

  private open(nodeId: string, protocol: string, signal: AbortSignal | undefined): Promise<FrameStream> {
    return openExchange(
      this.libp2p,
      dialTarget(nodeId, this.resolve(nodeId)),
      protocol,
      this.limits,
      signal,
      nodeId,
    )
  }

  async openShard(nodeId: string, header: ShardHeader, options?: AbortOptions): Promise<ShardSink> {
    options?.signal?.throwIfAborted()
    // The caller's signal bounds the opening only: a shard stream lives as long as its bytes flow.
    const self = this.self(nodeId)
    if (self !== undefined) return self.openShard(header)
    if (header.length <= MAX_INLINE_SHARD_BYTES) return new InlineShardSink(this.rpc, nodeId, header)
    const fs = await this.open(nodeId, PROTOCOLS.replicaPush, options?.signal)
    try {
      // Pipelined: the bytes follow the header at once; a refusal arrives as an ERROR frame.
      await fs.writeJson(header as unknown as JsonObject, options?.signal)
    } catch (err) {
      fs.abort(err as Error)
      throw exchangeFailure(err, nodeId)
    }
    const keepAliveMs = Math.max(MIN_KEEPALIVE_PERIOD_MS, Math.floor(this.limits.idleTimeoutMs / 4))
    return new RemoteShardSink(fs, nodeId, header.shard_id, keepAliveMs)
  }

  async stageShards(
    nodeId: string,
    shards: WholeShardRequest[],
    options?: AbortOptions,
  ): Promise<StagedShardInfo[]> {
    options?.signal?.throwIfAborted()
    const self = this.self(nodeId)
    if (self !== undefined) return self.stageShards(shards)
    return stageShardsOnPeer(this, this.rpc, nodeId, shards, options)
  }

  commitVersion(nodeId: string, request: CommitRequest, options?: AbortOptions): Promise<CommitResult> {
    const self = this.self(nodeId)
    if (self !== undefined) return self.commitVersion(request)
    return this.ask(nodeId, 'commit', request as unknown as JsonObject, options, ({ body }) => {
      const result = parseCommitResult(body)
      if (result.node_id !== nodeId) throw new FrameInvalidError(`commit answered for ${result.node_id}`)
      return result
    })
  }

  /** One request on the node's replica channel; an answer that does not parse means the node failed. */
  private async ask<T>(
    nodeId: string,
    op: RpcOp,
    body: JsonObject,
    options: AbortOptions | undefined,
    parse: (answer: RpcAnswer) => T,
    data?: Uint8Array,
  ): Promise<T> {
    const answer = await this.rpc.request(nodeId, op, body, { signal: options?.signal, data })
    try {
      return parse(answer)
    } catch (err) {
      throw exchangeFailure(err, nodeId)
    }
  }

  async abortStaging(nodeId: string, stagingIds: string[], options?: AbortOptions): Promise<void> {
    const self = this.self(nodeId)
    if (self !== undefined) return self.abortStaging(stagingIds)
    for (let i = 0; i < stagingIds.length; i += MAX_ABORT_IDS) {
      const ids = stagingIds.slice(i, i + MAX_ABORT_IDS)
      await this.ask(nodeId, 'abort', { staging_ids: ids }, options, ({ body }) => parseAck(body))
    }
  }

  getRecord(
    nodeId: string,
    objectId: string,
    version: number | 'latest',
    options?: AbortOptions,
  ): Promise<VersionRecord | undefined> {
    const self = this.self(nodeId)
    if (self !== undefined) return self.getRecord(objectId, version)
    return this.ask(nodeId, 'record', { object_id: objectId, version }, options, ({ body }) =>
      parseRecordReply(body, this.params),
    )
  }

  getManifest(
    nodeId: string,
    shardId: string,
    options?: AbortOptions,
  ): Promise<ShardManifestInfo | undefined> {
    const self = this.self(nodeId)
    if (self !== undefined) return self.getManifest(shardId)
    return this.call(nodeId, PROTOCOLS.replicaManifest, { shard_id: shardId }, options, (fs, signal) =>
      readManifest(fs, signal, this.maxLeaves),
    )
  }

  async *fetchShard(
    nodeId: string,
    shardId: string,
    fromBlock: number,
    options?: FetchOptions,
  ): AsyncIterable<Uint8Array> {
    const self = this.self(nodeId)
    if (self !== undefined) {
      yield* self.fetchShard(shardId, fromBlock, options)
      return
    }
    const blockSize = options?.blockSizeBytes ?? this.params.blockSizeBytes
    if (options?.blocks === 1 && blockSize <= MAX_INLINE_SHARD_BYTES) {
      // A shard's last block (a small shard whole) is one request on the replica channel.
      const block = await this.ask(
        nodeId,
        'fetch',
        { shard_id: shardId, from_block: fromBlock },
        options,
        ({ body, data }) => {
          const blocks = countField(exact(body, 'fetch answer', ['blocks']).blocks, 'blocks')
          if (blocks !== (data === undefined ? 0 : 1))
            throw new FrameInvalidError('fetch answer and its DATA disagree')
          return data
        },
      )
      if (block !== undefined) yield block
      return
    }
    const signal = options?.signal
    const fs = await underDeadline(signal, this.limits.requestTimeoutMs, (opening) =>
      this.open(nodeId, PROTOCOLS.replicaFetch, opening),
    )
    yield* readBlocks(fs, nodeId, shardId, fromBlock, signal)
  }

  proveShard(
    nodeId: string,
    shardId: string,
    leafIndex: number,
    options?: AbortOptions,
  ): Promise<StorageProof> {
    const self = this.self(nodeId)
    if (self !== undefined) return self.proveShard(shardId, leafIndex)
    return this.ask(nodeId, 'prove', { shard_id: shardId, leaf_index: leafIndex }, options, ({ body }) =>
      parseProofReply(body),
    )
  }

  /**
   * The signed snapshot of `epoch` a peer holds, unverified (the caller verifies it: a peer could
   * send anything), or undefined when the peer does not hold it. Not part of NodeTransport: the
   * engine never asks; the daemon fills the epochs its node lacks (daemon/snapshot-backfill.ts).
   */
  async getSnapshot(nodeId: string, epoch: number, options?: AbortOptions): Promise<unknown> {
    try {
      return await this.ask(nodeId, 'snapshot', { epoch }, options, ({ body }) => parseSnapshotReply(body))
    } catch (err) {
      if (err instanceof RemoteError && err.code === SnapshotNotHeldError.code) return undefined
      throw err
    }
  }

  listRecords(nodeId: string, filters: NodeListFilters, options?: AbortOptions): Promise<VersionRecord[]> {
    const self = this.self(nodeId)
    if (self !== undefined) return self.listRecords(filters)
    const bounds = {
      limit: filters.limit ?? DEFAULT_PAGE,
      // The node answers up to the lower of what it is asked and its own bound.
      maxBytes: Math.min(filters.max_bytes ?? MAX_LIST_ANSWER_BYTES, MAX_LIST_ANSWER_BYTES),
    }
    return this.call(nodeId, PROTOCOLS.replicaList, filtersToJson(filters), options, (fs, signal) =>
      readRecords(fs, signal, bounds, this.params),
    )
  }
}
