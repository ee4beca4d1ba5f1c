import { NodeUnavailableError } from '../../src/engine/errors.js'
import type {
  AbortOptions,
  CommitRequest,
  FetchOptions,
  NodeTransport,
  ShardHeader,
  ShardSink,
  WholeShardRequest,
} from '../../src/engine/transport.js'

/**
 * A fault layer over the in-process transport for the chaos test (chaos-consistency.test.ts): every
 * message to a node is delayed by a seeded random time (so concurrent messages overtake one another),
 * and may be lost on its way there (the node never sees it) or on its way back (the node acted, the
 * caller hears NODE_UNAVAILABLE, as over libp2p when a stream breaks after the request went out). A
 * frozen node holds every message until the caller's deadline, as a SIGSTOPped daemon does. Down
 * nodes stay the inner transport's business (`InProcessTransport.setDown`).
 */

/** How the link to one node behaves; a message's delay is drawn in [0, maxDelayMs] each way. */
export interface LinkFaults {
  maxDelayMs: number
  /** Chance that a request is lost before the node sees it. */
  dropRequest: number
  /** Chance that the answer is lost after the node acted. */
  dropReply: number
}

export const CLEAN_LINK: LinkFaults = { maxDelayMs: 0, dropRequest: 0, dropReply: 0 }

/** mulberry32: a small seeded generator, so a case's message timings follow from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

export class ChaosTransport implements NodeTransport {
  private readonly links = new Map<string, LinkFaults>()
  /** Frozen nodes, with the release of each message they hold that came without a deadline. */
  private readonly frozen = new Map<string, Array<() => void>>()
  /** Messages a frozen node held that came without a deadline: they wait until it thaws. */
  readonly unboundedFrozenCalls: string[] = []

  /**
   * `streamIdleMs` bounds a frozen node's shard stream as the libp2p transport's FrameStream does
   * (`limits.idleTimeoutMs`): the engine leaves that bound to the transport (its own
   * `timeouts.streamIdleMs` is not used by the read path), so without it a replica frozen mid-read
   * would hold the read for as long as it stays frozen, which over libp2p cannot happen.
   */
  constructor(
    private readonly inner: NodeTransport,
    private readonly random: () => number,
    private readonly streamIdleMs: number,
  ) {}

  setLink(nodeId: string, faults: LinkFaults): void {
    this.links.set(nodeId, faults)
  }

  setFrozen(nodeId: string, frozen: boolean): void {
    if (frozen) {
      if (!this.frozen.has(nodeId)) this.frozen.set(nodeId, [])
      return
    }
    for (const release of this.frozen.get(nodeId) ?? []) release()
    this.frozen.delete(nodeId)
  }

  /** Back to a clean network (the quiesced end of a case). */
  heal(): void {
    this.links.clear()
    for (const node of [...this.frozen.keys()]) this.setFrozen(node, false)
  }

  private link(nodeId: string): LinkFaults {
    return this.links.get(nodeId) ?? CLEAN_LINK
  }

  private async hold(nodeId: string, what: string, signal: AbortSignal | undefined): Promise<void> {
    const held = this.frozen.get(nodeId)
    if (held === undefined) return
    if (signal === undefined) {
      this.unboundedFrozenCalls.push(`${what} to ${nodeId}`)
      await new Promise<void>((resolve) => held.push(resolve))
    } else {
      await sleep(2 ** 31 - 1, signal).catch((reason: unknown) => {
        throw new NodeUnavailableError(`${nodeId} did not answer (frozen)`, { cause: reason })
      })
    }
  }

  /** The way there: delay, freeze, loss. */
  private async there(nodeId: string, what: string, signal: AbortSignal | undefined): Promise<void> {
    const f = this.link(nodeId)
    await this.hold(nodeId, what, signal)
    if (f.maxDelayMs > 0) await sleep(Math.floor(this.random() * (f.maxDelayMs + 1)), signal)
    if (this.random() < f.dropRequest) throw new NodeUnavailableError(`request to ${nodeId} lost`)
  }

  /** The way back: delay, loss of an answer to something the node did. */
  private async back(nodeId: string, what: string, signal: AbortSignal | undefined): Promise<void> {
    const f = this.link(nodeId)
    if (f.maxDelayMs > 0) await sleep(Math.floor(this.random() * (f.maxDelayMs + 1)), signal)
    if (this.random() < f.dropReply) throw new NodeUnavailableError(`answer of ${nodeId} lost`)
    await this.hold(nodeId, what, signal)
  }

  private async exchange<T>(
    nodeId: string,
    what: string,
    options: AbortOptions | undefined,
    run: () => Promise<T>,
  ): Promise<T> {
    await this.there(nodeId, what, options?.signal)
    const answer = await run()
    await this.back(nodeId, what, options?.signal)
    return answer
  }

  async openShard(nodeId: string, header: ShardHeader, options?: AbortOptions): Promise<ShardSink> {
    const sink = await this.exchange(nodeId, 'openShard', options, () =>
      this.inner.openShard(nodeId, header, options),
    )
    return {
      write: async (chunk, leaf) => {
        await this.there(nodeId, 'shard write', undefined)
        await sink.write(chunk, leaf)
      },
      finish: (o) => this.exchange(nodeId, 'shard finish', o, () => sink.finish(o)),
      abort: (reason) => sink.abort(reason),
    }
  }

  stageShards(nodeId: string, shards: WholeShardRequest[], options?: AbortOptions) {
    return this.exchange(nodeId, 'stageShards', options, () =>
      this.inner.stageShards(nodeId, shards, options),
    )
  }

  commitVersion(nodeId: string, request: CommitRequest, options?: AbortOptions) {
    return this.exchange(nodeId, 'commitVersion', options, () =>
      this.inner.commitVersion(nodeId, request, options),
    )
  }

  abortStaging(nodeId: string, stagingIds: string[], options?: AbortOptions) {
    return this.exchange(nodeId, 'abortStaging', options, () =>
      this.inner.abortStaging(nodeId, stagingIds, options),
    )
  }

  getRecord(nodeId: string, objectId: string, version: number | 'latest', options?: AbortOptions) {
    return this.exchange(nodeId, 'getRecord', options, () =>
      this.inner.getRecord(nodeId, objectId, version, options),
    )
  }

  getManifest(nodeId: string, shardId: string, options?: AbortOptions) {
    return this.exchange(nodeId, 'getManifest', options, () =>
      this.inner.getManifest(nodeId, shardId, options),
    )
  }

  async *fetchShard(
    nodeId: string,
    shardId: string,
    fromBlock: number,
    options?: FetchOptions,
  ): AsyncIterable<Uint8Array> {
    const idle = AbortSignal.timeout(this.streamIdleMs)
    const signal = options?.signal === undefined ? idle : AbortSignal.any([options.signal, idle])
    await this.there(nodeId, 'fetchShard', signal)
    for await (const block of this.inner.fetchShard(nodeId, shardId, fromBlock, options)) {
      // Each block restarts the idle time, as a stream's idle timer does.
      const next = AbortSignal.timeout(this.streamIdleMs)
      await this.back(
        nodeId,
        'fetchShard',
        options?.signal === undefined ? next : AbortSignal.any([options.signal, next]),
      )
      yield block
    }
  }

  proveShard(nodeId: string, shardId: string, leafIndex: number, options?: AbortOptions) {
    return this.exchange(nodeId, 'proveShard', options, () =>
      this.inner.proveShard(nodeId, shardId, leafIndex, options),
    )
  }

  listRecords(nodeId: string, filters: Parameters<NodeTransport['listRecords']>[1], options?: AbortOptions) {
    return this.exchange(nodeId, 'listRecords', options, () =>
      this.inner.listRecords(nodeId, filters, options),
    )
  }
}
