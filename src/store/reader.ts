/**
 * What a shard store has committed, read-only: manifests, blocks (one, or a shard streamed whole),
 * Merkle proofs of a block, index entries, listings, stats and scrub. ShardStore adds staging and
 * commits on top.
 */
import { equalBytes, fromHex, parseId, toHex } from '../core/bytes.js'
import { EmptyShardError, InvalidInputError } from '../core/errors.js'
import { leafHash, MerkleTree } from '../core/merkle.js'
import type { ProofParts } from '../core/proof.js'
import { type IndexEntry, readEntry, toIndexEntry } from './commit.js'
import { readCounters, type StoreStats, scanStats } from './counters.js'
import { blockIndexOf, blockKey, objectRange, type StoreSublevels } from './db.js'
import { IntegrityMismatchError, NotFoundError } from './errors.js'
import { type ListPage, listEntries } from './listing.js'
import { decodeManifest, type ShardManifest } from './manifest.js'
import { type ScrubOptions, type ScrubReport, scrubStore } from './scrub.js'

/** A stored block with what proves it (core/proof.ts `storageProofOf` makes the wire proof). */
export type BlockProof = ProofParts

const TREE_CACHE_SIZE = 32

/**
 * A single block up to this size is read with LevelDB's synchronous get, as are manifests, index
 * entries and staging markers. Warm, such a read is a lookup in LevelDB's cache or one page-cache
 * copy, cheaper than the thread-pool round trip of an asynchronous get (about 1 ms of node CPU less
 * per 4 KiB get across a devnet, 12%); cold, the event loop waits for one disk read. A larger block
 * stays asynchronous, so that wait stays bounded to small values. A manifest is 32 bytes per block
 * of its shard, so it is small except for very large shards (8 KiB for a 64 MiB shard, 2 MiB for
 * the largest the default limits allow), whose reads then stream that many blocks anyway.
 */
export const SYNC_READ_MAX_BYTES = 64 * 1024

/** The reads of a ShardStore; each asks `assertOpen` first, as the store's own methods do. */
export abstract class StoreReader {
  readonly sublevels: StoreSublevels
  private readonly trees = new Map<string, MerkleTree>()

  constructor(sublevels: StoreSublevels) {
    this.sublevels = sublevels
  }

  abstract assertOpen(): void

  /** Drops the cached Merkle trees (the store closed). */
  protected forgetTrees(): void {
    this.trees.clear()
  }

  async getManifest(shardId: string): Promise<ShardManifest | undefined> {
    this.assertOpen()
    // 32 bytes per block: read synchronously (SYNC_READ_MAX_BYTES says when that is large).
    const value = this.sublevels.manifests.getSync(parseId(shardId, 'shard_id'))
    return value === undefined ? undefined : decodeManifest(value)
  }

  /** One committed block as stored (undefined for an unknown shard or a lost block). */
  async readBlock(shardId: string, index: number): Promise<Uint8Array | undefined> {
    const m = await this.getManifest(shardId)
    if (m === undefined) return undefined
    checkBlockIndex(index, m)
    return this.sublevels.blocks.get(blockKey(m.stagingId, index))
  }

  /**
   * Streams a committed shard block by block (never buffered whole). A lost block is
   * `INTEGRITY_MISMATCH`; so is a changed one unless `hashBlocks` is false, for a consumer that
   * checks every block against leaf hashes of its own anyway (a reader on another node).
   */
  async *readShard(
    shardId: string,
    options: { fromBlock?: number; signal?: AbortSignal; hashBlocks?: boolean } = {},
  ): AsyncGenerator<Uint8Array> {
    const m = await this.getManifest(shardId)
    if (m === undefined) throw new NotFoundError(`shard ${shardId} is not stored here`)
    const from = options.fromBlock ?? 0
    if (m.leafCount === 0 && from === 0) return
    checkBlockIndex(from, m)
    const hashBlocks = options.hashBlocks ?? true
    if (from === m.leafCount - 1) {
      // One block (a small shard whole, or a shard's last block): one get. A LevelDB iterator over
      // one key cost about three times the CPU (it is opened, read and closed, each a round trip to
      // the thread pool), and a 4 KiB read fetches four such shards.
      const key = blockKey(m.stagingId, from)
      const small = m.length - from * m.blockSizeBytes <= SYNC_READ_MAX_BYTES
      const block = small ? this.sublevels.blocks.getSync(key) : await this.sublevels.blocks.get(key)
      options.signal?.throwIfAborted()
      if (block === undefined) throw new IntegrityMismatchError(`shard ${shardId}: block ${from} is missing`)
      if (hashBlocks && !equalBytes(leafHash(block), m.leafHashes[from]!))
        throw new IntegrityMismatchError(`shard ${shardId}: block ${from} is missing or corrupt`)
      yield block
      return
    }
    let expected = from
    const range = { gte: blockKey(m.stagingId, from), lte: blockKey(m.stagingId, m.leafCount - 1) }
    for await (const [key, block] of this.sublevels.blocks.iterator(range)) {
      options.signal?.throwIfAborted()
      const index = blockIndexOf(key)
      if (index !== expected || (hashBlocks && !equalBytes(leafHash(block), m.leafHashes[index]!))) {
        throw new IntegrityMismatchError(`shard ${shardId}: block ${expected} is missing or corrupt`)
      }
      expected++
      yield block
    }
    if (expected !== m.leafCount)
      throw new IntegrityMismatchError(`shard ${shardId}: block ${expected} is missing`)
  }

  /** The block at `leafIndex` with its audit path, from the manifest's leaves and one block read. */
  async proveBlock(shardId: string, leafIndex: number): Promise<BlockProof> {
    const m = await this.getManifest(shardId)
    if (m === undefined) throw new NotFoundError(`shard ${shardId} is not stored here`)
    if (m.leafCount === 0) throw new EmptyShardError(`shard ${shardId} is empty`)
    checkBlockIndex(leafIndex, m)
    const block = await this.sublevels.blocks.get(blockKey(m.stagingId, leafIndex))
    const leaf = m.leafHashes[leafIndex]!
    if (block === undefined || !equalBytes(leafHash(block), leaf)) {
      throw new IntegrityMismatchError(`shard ${shardId}: block ${leafIndex} is missing or corrupt`)
    }
    const tree = this.treeOf(m)
    return {
      objectId: m.objectId,
      version: m.version,
      shardId: m.shardId,
      leafIndex,
      leafCount: m.leafCount,
      block,
      leafHash: leaf,
      auditPath: tree.auditPath(leafIndex),
      merkleRoot: fromHex(m.merkleRoot),
    }
  }

  // Manifests never change once written, so a tree built from one stays valid.
  private treeOf(m: ShardManifest): MerkleTree {
    let tree = this.trees.get(m.shardId)
    if (tree === undefined) {
      tree = MerkleTree.fromLeafHashes(m.leafHashes)
      if (toHex(tree.root) !== m.merkleRoot)
        throw new IntegrityMismatchError(`shard ${m.shardId}: manifest leaves disagree with its root`)
      if (this.trees.size >= TREE_CACHE_SIZE) this.trees.delete(this.trees.keys().next().value!)
    } else {
      this.trees.delete(m.shardId)
    }
    this.trees.set(m.shardId, tree)
    return tree
  }

  async getRecord(objectId: string, version: number): Promise<IndexEntry | undefined> {
    this.assertOpen()
    if (!Number.isSafeInteger(version) || version < 1)
      throw new InvalidInputError('version must be a safe integer >= 1')
    return readEntry(this.sublevels, objectId, version)
  }

  /** Every version this node keeps of an object, ascending (a delete marker is one of them). */
  async getVersions(objectId: string): Promise<IndexEntry[]> {
    this.assertOpen()
    const out: IndexEntry[] = []
    for await (const value of this.sublevels.index.values(objectRange(objectId)))
      out.push(toIndexEntry(value))
    return out
  }

  async latestVersion(objectId: string): Promise<number | undefined> {
    this.assertOpen()
    const keys = await this.sublevels.index
      .values({ ...objectRange(objectId), reverse: true, limit: 1 })
      .all()
    return keys.length === 0 ? undefined : toIndexEntry(keys[0]).version
  }

  async listRecords(filters: unknown = {}): Promise<ListPage> {
    this.assertOpen()
    return listEntries(this.sublevels, filters)
  }

  /** From the persisted counters (one read, no scan). */
  async stats(): Promise<StoreStats> {
    this.assertOpen()
    const { staging_seq: _, staged_bytes: __, ...stats } = await readCounters(this.sublevels)
    return stats
  }

  /** The same figures by scanning everything; what the counters must always equal. */
  async recomputeStats(): Promise<StoreStats> {
    this.assertOpen()
    return scanStats(this.sublevels)
  }

  async scrub(options: ScrubOptions = {}): Promise<ScrubReport> {
    this.assertOpen()
    return scrubStore(this.sublevels, options)
  }
}

function checkBlockIndex(index: number, m: ShardManifest): void {
  if (!Number.isInteger(index) || index < 0 || index >= m.leafCount) {
    throw new InvalidInputError(`block index ${index} outside 0..${m.leafCount - 1}`)
  }
}
