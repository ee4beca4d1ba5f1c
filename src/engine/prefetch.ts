import { shardId as computeShardId } from '../core/ids.js'
import type { EpochView } from '../membership/types.js'
import { type EngineContext, replicaOrder } from './context.js'

/** A first block asked for ahead of the record, and how to stop asking. */
export interface PrefetchedBlock {
  /** Resolves to block 0 as the replica served it (unchecked), or undefined if it had none. */
  block: Promise<Uint8Array | undefined>
  stop: AbortController
}

interface Pending extends PrefetchedBlock {
  node: string
  blockSizeBytes: number
}

/**
 * The first block of each shard of an exact version, asked of its first replica while the record
 * is still being resolved from the homes, so a small object costs one round of requests after the
 * client's, not two. Shard ids and replicas follow from the ids and the epoch's placement alone
 * (PROTOCOL.md), so the guess is right whenever the version was written in the current epoch; a
 * reader adopts a block only if the record names the same shard, replica and block size, and checks
 * it like any other (read.ts). What is not adopted is stopped and dropped: at worst a read of a
 * version that does not exist, or of another epoch, asks `numShardsPerObject` small requests for
 * nothing. Each block is held at most until its reader takes it or `cancel()`.
 */
export class FirstBlockPrefetch {
  private readonly pending = new Map<string, Pending>()

  constructor(ctx: EngineContext, view: EpochView, objectId: string, version: number, signal?: AbortSignal) {
    const { params } = view
    for (let index = 0; index < params.numShardsPerObject; index++) {
      const shardId = computeShardId(objectId, version, index)
      const replicas = view.eligible.place(shardId, params.replicationFactor).selected
      const node = replicaOrder(replicas, ctx.nodeId, ctx.health)[0]
      if (node === undefined) continue
      const stop = new AbortController()
      const attempt = signal === undefined ? stop.signal : AbortSignal.any([signal, stop.signal])
      const block = firstBlock(ctx, node, shardId, params.blockSizeBytes, attempt)
      // Awaited by the reader that adopts it; a block never adopted must not count as unhandled.
      block.catch(() => {})
      this.pending.set(shardId, { node, blockSizeBytes: params.blockSizeBytes, block, stop })
    }
  }

  /**
   * The block asked for `shardId`, if it was asked of `node` with `blockSizeBytes`; handed over once
   * (the taker stops it when done). A request that does not match is stopped.
   */
  take(shardId: string, node: string, blockSizeBytes: number): PrefetchedBlock | undefined {
    const p = this.pending.get(shardId)
    if (p === undefined) return undefined
    this.pending.delete(shardId)
    if (p.node === node && p.blockSizeBytes === blockSizeBytes) return { block: p.block, stop: p.stop }
    p.stop.abort(PREFETCH_UNUSED)
    return undefined
  }

  /** Stops every request not handed over. */
  cancel(): void {
    for (const p of this.pending.values()) p.stop.abort(PREFETCH_UNUSED)
    this.pending.clear()
  }
}

/** One reason for every stopped prefetch: made once, so a stop captures no stack (read.ts READ_STOPPED). */
const PREFETCH_UNUSED = new Error('prefetched block not used')

async function firstBlock(
  ctx: EngineContext,
  node: string,
  shardId: string,
  blockSizeBytes: number,
  signal: AbortSignal,
): Promise<Uint8Array | undefined> {
  const blocks = ctx.transport.fetchShard(node, shardId, 0, { signal, blocks: 1, blockSizeBytes })
  for await (const block of blocks) return block
  return undefined
}
