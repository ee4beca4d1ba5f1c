import { QfsError } from '../core/errors.js'
import type { StorageProof } from '../core/proof.js'
import type { VersionRecord } from '../core/record.js'
import { NodeUnavailableError } from './errors.js'
import type { NodeListFilters } from './list.js'
import type { NodeService } from './node-service.js'
import type {
  AbortOptions,
  CommitRequest,
  CommitResult,
  NodeTransport,
  ShardHeader,
  ShardManifestInfo,
  ShardSink,
  StagedShardInfo,
  WholeShardRequest,
} from './transport.js'

/**
 * A transport to NodeServices in the same process: the mini-network of the store phase and the
 * engine tests. Nodes can be taken down, and a node's served blocks can be altered, to exercise
 * the failover paths the libp2p transport needs too.
 */
export class InProcessTransport implements NodeTransport {
  private readonly nodes = new Map<string, NodeService>()
  private readonly down = new Set<string>()
  /** Rewrites blocks a node serves (tests of bad replicas). */
  tamper: ((nodeId: string, shardId: string, index: number, block: Uint8Array) => Uint8Array) | undefined

  add(service: NodeService): void {
    this.nodes.set(service.nodeId, service)
  }

  setDown(nodeId: string, down: boolean): void {
    if (down) this.down.add(nodeId)
    else this.down.delete(nodeId)
  }

  /**
   * Over libp2p a node's own internal failure reaches the caller as an ERROR frame without its
   * message (docs/protocol.md section 5); here it becomes NODE_UNAVAILABLE, with the raw error kept
   * only as `cause`. Our typed errors and aborts pass through unchanged.
   */
  private async call<T>(
    nodeId: string,
    options: AbortOptions | undefined,
    run: () => Promise<T>,
  ): Promise<T> {
    try {
      return await run()
    } catch (err) {
      throw this.shield(nodeId, err, options)
    }
  }

  private shield(nodeId: string, err: unknown, options?: AbortOptions): unknown {
    if (err instanceof QfsError || options?.signal?.aborted === true) return err
    return new NodeUnavailableError(`node ${nodeId} failed internally`, { cause: err })
  }

  private node(nodeId: string, options?: AbortOptions): NodeService {
    options?.signal?.throwIfAborted()
    const service = this.nodes.get(nodeId)
    if (service === undefined || this.down.has(nodeId))
      throw new NodeUnavailableError(`node ${nodeId} is unreachable`)
    return service
  }

  async openShard(nodeId: string, header: ShardHeader, options?: AbortOptions): Promise<ShardSink> {
    // `options.signal` bounds opening only; the writer lives until finish or abort, as over libp2p.
    const sink = await this.call(nodeId, options, () =>
      this.node(nodeId, options).openShard(structuredClone(header)),
    )
    const check = () => this.node(nodeId)
    return {
      write: (chunk) =>
        this.call(nodeId, undefined, async () => {
          check()
          await sink.write(chunk.slice())
        }),
      finish: (options) =>
        this.call(nodeId, options, async () => {
          options?.signal?.throwIfAborted()
          check()
          return sink.finish()
        }),
      abort: (reason) => sink.abort(reason),
    }
  }

  async stageShards(
    nodeId: string,
    shards: WholeShardRequest[],
    options?: AbortOptions,
  ): Promise<StagedShardInfo[]> {
    return this.call(nodeId, options, () =>
      this.node(nodeId, options).stageShards(
        shards.map((s) => ({ header: structuredClone(s.header), bytes: s.bytes.slice() })),
      ),
    )
  }

  async commitVersion(nodeId: string, request: CommitRequest, options?: AbortOptions): Promise<CommitResult> {
    return this.call(nodeId, options, () =>
      this.node(nodeId, options).commitVersion(structuredClone(request)),
    )
  }

  async abortStaging(nodeId: string, stagingIds: string[], options?: AbortOptions): Promise<void> {
    await this.call(nodeId, options, () => this.node(nodeId, options).abortStaging([...stagingIds]))
  }

  async getRecord(
    nodeId: string,
    objectId: string,
    version: number | 'latest',
    options?: AbortOptions,
  ): Promise<VersionRecord | undefined> {
    const r = await this.call(nodeId, options, () => this.node(nodeId, options).getRecord(objectId, version))
    return r === undefined ? undefined : structuredClone(r)
  }

  async getManifest(
    nodeId: string,
    shardId: string,
    options?: AbortOptions,
  ): Promise<ShardManifestInfo | undefined> {
    return this.call(nodeId, options, () => this.node(nodeId, options).getManifest(shardId))
  }

  async *fetchShard(
    nodeId: string,
    shardId: string,
    fromBlock: number,
    options?: AbortOptions,
  ): AsyncIterable<Uint8Array> {
    let index = fromBlock
    try {
      for await (const block of this.node(nodeId, options).fetchShard(shardId, fromBlock, options)) {
        this.node(nodeId, options)
        yield this.tamper === undefined ? block : this.tamper(nodeId, shardId, index, block)
        index++
      }
    } catch (err) {
      throw this.shield(nodeId, err, options)
    }
  }

  async proveShard(
    nodeId: string,
    shardId: string,
    leafIndex: number,
    options?: AbortOptions,
  ): Promise<StorageProof> {
    return this.call(nodeId, options, () => this.node(nodeId, options).proveShard(shardId, leafIndex))
  }

  async listRecords(
    nodeId: string,
    filters: NodeListFilters,
    options?: AbortOptions,
  ): Promise<VersionRecord[]> {
    return structuredClone(
      await this.call(nodeId, options, () =>
        this.node(nodeId, options).listRecords(structuredClone(filters)),
      ),
    )
  }
}
