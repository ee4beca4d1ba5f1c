import { randomBytes } from 'node:crypto'
import { equalBytes, fromHex, parseId, toHex } from '../core/bytes.js'
import { EmptyShardError, InvalidInputError } from '../core/errors.js'
import { leafHash, MerkleTree } from '../core/merkle.js'
import type { ProtocolParams } from '../core/params.js'
import {
  type CommitRole,
  type IndexEntry,
  type PreparedCommit,
  prepareCommitOps,
  readEntry,
  toIndexEntry,
} from './commit.js'
import { type Counters, countersOp, readCounters, type StoreStats, scanStats } from './counters.js'
import {
  blockIndexOf,
  blockKey,
  newStagingId,
  objectRange,
  parseStagingId,
  type RootDb,
  type StoreBatchOp,
  type StoreSublevels,
  storeSublevels,
} from './db.js'
import { IntegrityMismatchError, NotFoundError, StoreClosedError, WriteLockNotHeldError } from './errors.js'
import { type ListPage, listEntries } from './listing.js'
import { decodeManifest, encodeMarker, type ShardManifest, type StagingMarker } from './manifest.js'
import { Mutex } from './mutex.js'
import { type ScrubOptions, type ScrubReport, scrubStore } from './scrub.js'
import { type SpaceGuard, type SpaceStatus, storageFullFrom } from './space.js'
import {
  hashWholeShard,
  type ShardHeader,
  ShardWriter,
  type StagedShard,
  type StagingHost,
  validateShardHeader,
  type WholeShard,
  wholeShardOps,
} from './staging.js'
import {
  checkAge,
  finishedStaged,
  keepFinishedStaging,
  removeStagingEntry,
  type StagedShardRef,
  type SweepOptions,
  sweepable,
} from './staging-sweep.js'

export interface ShardStoreComponents {
  /** The node's root database, already open; the store keeps to its own sublevels. */
  db: RootDb
  /** The node's single-writer lock, shared with the log; the store makes its own when absent. */
  writeLock?: Mutex
  /** Room for new shard data, asked before every stage; without it the store never refuses for space. */
  space?: SpaceGuard
}

export interface ShardStoreInit {
  params: ProtocolParams
  /** Local wall clock for staging markers only (never protocol data); injectable for tests. */
  now?: () => number
}

export interface BlockProof {
  objectId: string
  version: number
  shardId: string
  leafIndex: number
  leafCount: number
  block: Uint8Array
  leafHash: Uint8Array
  auditPath: Uint8Array[]
  merkleRoot: Uint8Array
}

const DEFAULT_SWEEP_AGE_MS = 15 * 60 * 1000
const TREE_CACHE_SIZE = 32

/**
 * A node's shards and object index over one abstract-level database (LevelDB or memory).
 *
 * Concurrency: everything that changes the index, manifests or counters runs under `writeLock`.
 * `beginShard`, writer aborts, `open` and `sweepStaging` take it themselves; `prepareCommit` does
 * NOT: its caller holds the lock from `prepareCommit` until its root batch (the store's ops plus its
 * own log entry) is written, so never call a self-locking method while holding it.
 */
export class ShardStore implements StagingHost {
  readonly sublevels: StoreSublevels
  readonly writeLock: Mutex
  private readonly db: RootDb
  private readonly params: ProtocolParams
  private readonly clock: () => number
  private readonly space: SpaceGuard | undefined
  private readonly streaming = new Map<string, ShardWriter>()
  private readonly trees = new Map<string, MerkleTree>()
  private opened = false
  /**
   * The persisted counters as the last batch this store wrote them (or the last read), kept so a
   * stage or commit does not read them back from the database each time (a thread-pool round trip
   * per write on every node). Set only once a batch that wrote them is known to be in, and cleared
   * before any batch that changes them, so it is either the database's value or undefined (read
   * again). Touched only under the write lock; the store is the only writer of its counters.
   */
  private knownCounters: Counters | undefined

  constructor(components: ShardStoreComponents, init: ShardStoreInit) {
    this.db = components.db
    this.writeLock = components.writeLock ?? new Mutex()
    this.space = components.space
    this.params = init.params
    this.clock = init.now ?? Date.now
    this.sublevels = storeSublevels(this.db)
  }

  /**
   * Call after the database is open. A stream cut off by a crash (an unfinished marker) goes, blocks
   * and marker. A finished staged shard stays: its write may have been decided before the crash
   * without this node's commit, and the staging sweep's roll-forward asks the homes before it goes
   * (docs/consistency.md "Roll forward"). Returns how many were removed.
   */
  async open(): Promise<{ removed: number }> {
    if (this.db.status !== 'open') throw new StoreClosedError('database is not open')
    if (this.opened) return { removed: 0 }
    const removed = await this.writeLock.run(async () => {
      this.knownCounters = undefined
      const { removed: n, kept } = await keepFinishedStaging(this.db, this.sublevels)
      const counters = await readCounters(this.sublevels)
      const bytes = kept.reduce((sum, m) => sum + m.length, 0)
      if (counters.staged !== kept.length || counters.staged_bytes !== bytes) {
        await this.db.batch([
          countersOp(this.sublevels, { ...counters, staged: kept.length, staged_bytes: bytes }),
        ])
      }
      return n
    })
    this.opened = true
    return { removed }
  }

  /** Stops serving; the database stays open (it belongs to the caller). Writers fail from now on. */
  async close(): Promise<void> {
    this.opened = false
    this.trees.clear()
    this.knownCounters = undefined
  }

  assertOpen(): void {
    if (!this.opened || this.db.status !== 'open') throw new StoreClosedError()
  }

  async beginShard(header: ShardHeader, options: { signal?: AbortSignal } = {}): Promise<ShardWriter> {
    this.assertOpen()
    const h = validateShardHeader(header, this.params)
    options.signal?.throwIfAborted()
    const marker = await this.writeLock.run(async () => {
      this.assertOpen()
      const counters = await this.lockedCounters()
      await this.space?.admit(h.length, counters.bytes_stored + counters.staged_bytes)
      const m: StagingMarker = {
        ...this.nextStaging(counters, h.length),
        ...h,
        state: 'writing',
        merkleRoot: null,
        leafHashes: [],
      }
      try {
        await this.batchCounted(
          [
            {
              type: 'put',
              sublevel: this.sublevels.staging,
              key: parseStagingId(m.stagingId),
              value: encodeMarker(m),
            },
          ],
          counters,
        )
      } catch (err) {
        this.space?.landed(h.length)
        throw storageFullFrom(err)
      }
      return m
    })
    const writer = new ShardWriter(this, marker, h, options.signal)
    this.streaming.set(marker.stagingId, writer)
    return writer
  }

  /**
   * Stages shards whose bytes are all at hand in one batch: all of them or none. A small object's
   * shards cost one database write per node this way, where a writer per shard costs four. A shard
   * id may appear once. An aborted `signal` before the batch stages nothing.
   */
  async stageWhole(
    shards: readonly WholeShard[],
    options: { signal?: AbortSignal } = {},
  ): Promise<StagedShard[]> {
    this.assertOpen()
    if (!Array.isArray(shards)) throw new InvalidInputError('shards must be a list')
    // Hashing needs no lock: only the ids and the batch do.
    const hashed = shards.map((s) => hashWholeShard(validateShardHeader(s?.header, this.params), s.bytes))
    if (new Set(hashed.map((h) => h.header.shardId)).size !== hashed.length)
      throw new InvalidInputError('a shard is listed twice')
    const bytes = hashed.reduce((sum, h) => sum + h.header.length, 0)
    return this.writeLock.run(async () => {
      this.assertOpen()
      options.signal?.throwIfAborted()
      const counters = await this.lockedCounters()
      await this.space?.admit(bytes, counters.bytes_stored + counters.staged_bytes)
      const ops: StoreBatchOp[] = []
      const staged: StagedShard[] = []
      for (const shard of hashed) {
        const built = wholeShardOps(this.sublevels, shard, this.nextStaging(counters, shard.header.length))
        ops.push(...built.ops)
        staged.push(built.staged)
      }
      try {
        if (staged.length === 0) return staged
        options.signal?.throwIfAborted()
        await this.batchCounted(ops, counters).catch((err: unknown) => {
          throw storageFullFrom(err)
        })
        return staged
      } finally {
        this.space?.landed(bytes)
      }
    })
  }

  /** Stages a whole shard from bytes or a stream; on any failure nothing stays staged. */
  async stageShard(
    header: ShardHeader,
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Uint8Array,
    options: { signal?: AbortSignal } = {},
  ): Promise<StagedShard> {
    const writer = await this.beginShard(header, options)
    try {
      if (source instanceof Uint8Array) await writer.write(source)
      else for await (const chunk of source) await writer.write(chunk)
      return await writer.finish()
    } catch (err) {
      await writer.abort()
      throw err
    }
  }

  /**
   * Drops staged shards by staging id (a coordinator's abort). A shard still streaming into this
   * process is aborted through its writer, so no block lands after its marker is gone. Ids that
   * are unknown or already committed are ignored. Takes the write lock.
   */
  async discardStaging(stagingIds: string | readonly string[]): Promise<void> {
    this.assertOpen()
    const ids = typeof stagingIds === 'string' ? [stagingIds] : stagingIds
    if (!Array.isArray(ids)) throw new InvalidInputError('staging ids must be a list')
    for (const id of ids) parseStagingId(id)
    for (const id of ids) {
      const writer = this.streaming.get(id)
      if (writer !== undefined) await writer.abort()
      else await this.releaseStaging(id)
    }
  }

  /** The next staging id, counted in `counters` (written by the caller's batch); under the write lock. */
  private nextStaging(
    counters: Counters,
    length: number,
  ): Pick<StagingMarker, 'stagingId' | 'seq' | 'createdMs'> {
    counters.staging_seq++
    counters.staged++
    counters.staged_bytes += length
    return {
      stagingId: newStagingId(counters.staging_seq, randomBytes(8)),
      seq: counters.staging_seq,
      createdMs: this.now(),
    }
  }

  async releaseStaging(stagingId: string): Promise<void> {
    await this.writeLock.run(() => {
      this.knownCounters = undefined
      return removeStagingEntry(this.db, this.sublevels, stagingId)
    })
  }

  /** The persisted counters (a copy the caller may change); under the write lock. */
  private async lockedCounters(): Promise<Counters> {
    this.knownCounters ??= await readCounters(this.sublevels)
    return { ...this.knownCounters }
  }

  /** Writes `ops` and `counters` in one batch; under the write lock. */
  private async batchCounted(ops: StoreBatchOp[], counters: Counters): Promise<void> {
    this.knownCounters = undefined
    await this.db.batch([...ops, countersOp(this.sublevels, counters)])
    this.knownCounters = { ...counters }
  }

  writerDone(writer: ShardWriter): void {
    if (this.streaming.delete(writer.stagingId)) this.space?.landed(writer.length)
  }

  /** Free space and quota as the store sees them; null when the store has no space guard. */
  async spaceStatus(): Promise<SpaceStatus | null> {
    if (this.space === undefined) return null
    const counters = await readCounters(this.sublevels)
    return this.space.status(counters.bytes_stored + counters.staged_bytes)
  }

  now(): number {
    return this.clock()
  }

  /**
   * Removes staged shards left waiting too long (a coordinator that never committed) and aborts
   * streams idle that long (a sender that vanished). A stream still receiving bytes is kept however
   * old it is. Takes the write lock. `removed` counts both.
   */
  async sweepStaging(options: SweepOptions = {}): Promise<{ removed: number }> {
    this.assertOpen()
    const cutoff = this.now() - checkAge(options.olderThanMs ?? DEFAULT_SWEEP_AGE_MS)
    let removed = 0
    // Writers abort outside the lock: their abort takes it.
    for (const writer of [...this.streaming.values()]) {
      if (writer.lastActivityMs <= cutoff) {
        await writer.abort()
        removed++
      }
    }
    return this.writeLock.run(async () => {
      this.knownCounters = undefined
      const stale = await sweepable(this.sublevels, this.isStreaming, cutoff, options.removeStaged)
      for (const id of stale) if (await removeStagingEntry(this.db, this.sublevels, id)) removed++
      return { removed }
    })
  }

  /**
   * Fully staged shards at least `olderThanMs` old that no stream is writing: the coordinator never
   * committed or aborted them. Whether a decided version still needs them is the engine's question.
   */
  async staleStaged(olderThanMs: number): Promise<StagedShardRef[]> {
    this.assertOpen()
    return finishedStaged(this.sublevels, this.isStreaming, this.now() - checkAge(olderThanMs))
  }

  private readonly isStreaming = (stagingId: string): boolean => this.streaming.has(stagingId)

  /**
   * Validates `record` for this node's `role` and returns the ops that commit it (index entry,
   * manifests, staging cleanup, counters) without writing anything. The caller MUST hold
   * `writeLock` and write `ops` (with its log entry) in one root batch before releasing it.
   */
  async prepareCommit(record: unknown, role: CommitRole): Promise<PreparedCommit> {
    this.assertOpen()
    if (!this.writeLock.locked) throw new WriteLockNotHeldError()
    const prepared = await prepareCommitOps(
      this.sublevels,
      this.params,
      record,
      role,
      await this.lockedCounters(),
    )
    // Its batch is the caller's to write: the counters are unknown until `committed` says it is in.
    if (prepared.counters !== undefined) this.knownCounters = undefined
    return prepared
  }

  /**
   * Tells the store that `prepared`'s ops were written (the caller's batch succeeded), so it need
   * not read its counters back; the caller still holds `writeLock`. Not calling it costs one read.
   */
  committed(prepared: PreparedCommit): void {
    if (prepared.counters !== undefined) this.knownCounters = { ...prepared.counters }
  }

  /** Writes a prepared commit alone (no log entry); the caller still holds `writeLock`. */
  async commit(prepared: PreparedCommit, extraOps: PreparedCommit['ops'] = []): Promise<void> {
    this.assertOpen()
    if (prepared.ops.length + extraOps.length === 0) return
    await this.db.batch([...prepared.ops, ...extraOps])
    this.committed(prepared)
  }

  async getManifest(shardId: string): Promise<ShardManifest | undefined> {
    this.assertOpen()
    const value = await this.sublevels.manifests.get(parseId(shardId, 'shard_id'))
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
