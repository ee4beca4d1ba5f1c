import { randomBytes } from 'node:crypto'
import { InvalidInputError } from '../core/errors.js'
import type { ProtocolParams } from '../core/params.js'
import { type CommitRole, type PreparedCommit, prepareCommitOps } from './commit.js'
import { type Counters, countersOp, readCounters } from './counters.js'
import { newStagingId, parseStagingId, type RootDb, type StoreBatchOp, storeSublevels } from './db.js'
import { StoreClosedError, WriteLockNotHeldError } from './errors.js'
import { encodeMarker, type StagingMarker } from './manifest.js'
import { Mutex } from './mutex.js'
import { StoreReader } from './reader.js'
import { type SpaceGuard, type SpaceStatus, STREAM_ADMIT_BYTES, storageFullFrom } from './space.js'
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

/**
 * The random half of staging ids, drawn from OpenSSL a pool at a time: one `randomBytes` per staged
 * shard was a call into OpenSSL (and a getpid for its fork check) per shard, two or three per node
 * on every small write.
 */
const STAGING_RANDOM_POOL = 512
let stagingPool: Uint8Array = new Uint8Array(0)
let stagingPoolAt = 0
function stagingRandom(): Uint8Array {
  if (stagingPoolAt + 8 > stagingPool.length) {
    stagingPool = randomBytes(STAGING_RANDOM_POOL)
    stagingPoolAt = 0
  }
  const out = stagingPool.subarray(stagingPoolAt, stagingPoolAt + 8)
  stagingPoolAt += 8
  return out
}

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

const DEFAULT_SWEEP_AGE_MS = 15 * 60 * 1000

/**
 * A node's shards and object index over one abstract-level database (LevelDB or memory): staging and
 * commits here, the reads of what is committed in StoreReader.
 *
 * Concurrency: everything that changes the index, manifests or counters runs under `writeLock`.
 * `beginShard`, writer aborts, a writer's `write` (for each further 4 MiB of room), `open` and
 * `sweepStaging` take it themselves; `prepareCommit` does
 * NOT: its caller holds the lock from `prepareCommit` until its root batch (the store's ops plus its
 * own log entry) is written, so never call a self-locking method while holding it.
 */
export class ShardStore extends StoreReader implements StagingHost {
  readonly writeLock: Mutex
  private readonly db: RootDb
  private readonly params: ProtocolParams
  private readonly clock: () => number
  private readonly space: SpaceGuard | undefined
  private readonly streaming = new Map<string, ShardWriter>()
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
    super(storeSublevels(components.db))
    this.db = components.db
    this.writeLock = components.writeLock ?? new Mutex()
    this.space = components.space
    this.params = init.params
    this.clock = init.now ?? Date.now
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
    this.forgetTrees()
    this.knownCounters = undefined
  }

  override assertOpen(): void {
    if (!this.opened || this.db.status !== 'open') throw new StoreClosedError()
  }

  async beginShard(header: ShardHeader, options: { signal?: AbortSignal } = {}): Promise<ShardWriter> {
    this.assertOpen()
    const h = validateShardHeader(header, this.params)
    options.signal?.throwIfAborted()
    const admitted = Math.min(h.length, STREAM_ADMIT_BYTES)
    return this.writeLock.run(async () => {
      this.assertOpen()
      const counters = await this.lockedCounters()
      // Only its first part, on disk and against the quota: the rest is taken as it arrives.
      await this.space?.admit(admitted, this.quotaHeld(counters))
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
        this.space?.landed(admitted)
        throw storageFullFrom(err)
      }
      // Registered under the lock with its marker counted: quotaHeld leaves out its untaken part.
      const writer = new ShardWriter(this, m, h, admitted, options.signal)
      this.streaming.set(m.stagingId, writer)
      return writer
    })
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
      await this.space?.admit(bytes, this.quotaHeld(counters))
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
      stagingId: newStagingId(counters.staging_seq, stagingRandom()),
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
    if (this.streaming.delete(writer.stagingId)) this.space?.landed(writer.admittedBytes)
  }

  streamLanded(bytes: number): void {
    this.space?.landed(bytes)
  }

  async admitStream(bytes: number, taken: () => void): Promise<void> {
    if (this.space === undefined) return taken()
    // Under the write lock, as every admission, so two never count the same free bytes.
    await this.writeLock.run(async () => {
      this.assertOpen()
      // The counters stage a stream's whole length, and quotaHeld leaves out what is not yet taken,
      // these `bytes` among it: held plus `bytes` is what the node holds once they are taken.
      await this.space!.admit(bytes, this.quotaHeld(await this.lockedCounters()))
      taken()
    })
  }

  /**
   * Shard bytes held as the quota counts them: committed and staged, less the part of open streams
   * not yet taken (STREAM_ADMIT_BYTES at a time). Counting a stream's declared length at its header
   * let a client that announced streams and sent nothing hold the operator's whole quota.
   */
  private quotaHeld(counters: Counters): number {
    let ahead = 0
    for (const writer of this.streaming.values()) ahead += writer.unadmittedBytes
    return Math.max(0, counters.bytes_stored + counters.staged_bytes - ahead)
  }

  /** Free space and quota as the store sees them; null when the store has no space guard. */
  async spaceStatus(): Promise<SpaceStatus | null> {
    if (this.space === undefined) return null
    return this.space.status(this.quotaHeld(await readCounters(this.sublevels)))
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
  async prepareCommit(
    record: unknown,
    role: CommitRole,
    /**
     * `record` is what `validateVersionRecord(…, params)` returned, and `digest` its `recordDigest`:
     * with this store's own params, neither is done again (commit.ts `prepareCommitOps`).
     */
    validated?: { params: ProtocolParams; digest: string },
  ): Promise<PreparedCommit> {
    this.assertOpen()
    if (!this.writeLock.locked) throw new WriteLockNotHeldError()
    const prepared = await prepareCommitOps(
      this.sublevels,
      this.params,
      record,
      role,
      await this.lockedCounters(),
      validated?.params === this.params ? { digest: validated.digest } : undefined,
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
}
