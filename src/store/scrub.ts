import { equalBytes } from '../core/bytes.js'
import { leafHash } from '../core/merkle.js'
import { blockIndexOf, blockRange, type StoreSublevels } from './db.js'
import { decodeManifest, type ShardManifest } from './manifest.js'

export interface ScrubProgress {
  shardsChecked: number
  blocksChecked: number
}

export interface ScrubOptions {
  onProgress?: (e: ScrubProgress) => void
  signal?: AbortSignal
}

export interface ScrubCorruption {
  shard_id: string
  object_id: string
  version: number
  /** Indices of blocks that are missing or no longer hash to their leaf, ascending. */
  blocks: number[]
}

export interface ScrubReport {
  shards: number
  blocks: number
  corrupt: ScrubCorruption[]
}

/** The indices of a shard's blocks that are missing or do not hash to the manifest's leaves. */
export async function checkShardBlocks(
  subs: StoreSublevels,
  m: ShardManifest,
  signal?: AbortSignal,
): Promise<number[]> {
  const bad: number[] = []
  let expected = 0
  for await (const [key, block] of subs.blocks.iterator(blockRange(m.stagingId))) {
    signal?.throwIfAborted()
    const index = blockIndexOf(key)
    if (index >= m.leafCount) break
    for (; expected < index; expected++) bad.push(expected)
    if (!equalBytes(leafHash(block), m.leafHashes[index]!)) bad.push(index)
    expected = index + 1
  }
  for (; expected < m.leafCount; expected++) bad.push(expected)
  return bad
}

/**
 * Re-hashes every stored block against its manifest. Reads one block at a time, so memory does not
 * grow with the store; a missing block is as corrupt as a changed one (neither can be proven).
 */
export async function scrubStore(subs: StoreSublevels, options: ScrubOptions = {}): Promise<ScrubReport> {
  const { onProgress, signal } = options
  signal?.throwIfAborted()
  const progress: ScrubProgress = { shardsChecked: 0, blocksChecked: 0 }
  const corrupt: ScrubCorruption[] = []
  for await (const value of subs.manifests.values()) {
    signal?.throwIfAborted()
    const m = decodeManifest(value)
    const bad = await checkShardBlocks(subs, m, signal)
    if (bad.length > 0)
      corrupt.push({ shard_id: m.shardId, object_id: m.objectId, version: m.version, blocks: bad })
    progress.shardsChecked++
    progress.blocksChecked += m.leafCount
    onProgress?.({ ...progress })
  }
  return { shards: progress.shardsChecked, blocks: progress.blocksChecked, corrupt }
}
