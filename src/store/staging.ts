import { isId, toHex } from '../core/bytes.js'
import { InvalidInputError } from '../core/errors.js'
import { SHA3_BYTES } from '../core/hash.js'
import { shardId as deriveShardId, validateVersion } from '../core/ids.js'
import { leafHash, MerkleTree } from '../core/merkle.js'
import { type ProtocolParams, validateParams } from '../core/params.js'
import { blockCount } from '../core/shards.js'
import { blockKey, parseStagingId, type StoreBatchOp, type StoreSublevels } from './db.js'
import { encodeMarker, type StagingMarker } from './manifest.js'
import { STREAM_ADMIT_BYTES, storageFullFrom } from './space.js'

/** What a replica is told before a shard's bytes arrive. */
export interface ShardHeader {
  objectId: string
  version: number
  shardIndex: number
  shardId: string
  length: number
  blockSizeBytes: number
}

/** A fully received shard, waiting for its version's commit (invisible until then). */
export interface StagedShard {
  stagingId: string
  shardId: string
  length: number
  leafCount: number
  merkleRoot: string
}

/** What a writer needs from its store; the store implements it. */
export interface StagingHost {
  readonly sublevels: StoreSublevels
  assertOpen(): void
  /** Deletes the blocks and marker of `stagingId` unless a commit already consumed the marker. */
  releaseStaging(stagingId: string): Promise<void>
  /** The writer stopped streaming (finished or aborted): a sweep may now consider its marker. */
  writerDone(writer: ShardWriter): void
  /**
   * Room on disk and in the quota for `bytes` more of a stream; STORAGE_FULL if none. `taken` runs
   * under the store's write lock once they are admitted, so no other admission sees them twice or
   * not at all.
   */
  admitStream(bytes: number, taken: () => void): Promise<void>
  /** `bytes` of a stream's admitted room are on disk now (a block written). */
  streamLanded(bytes: number): void
  /** Local wall clock (ms), for idle detection only. */
  now(): number
}

// Blocks handed to LevelDB but not yet acknowledged; with the block being filled this bounds a
// writer's memory to (1 + MAX_INFLIGHT_BLOCKS) blocks whatever the shard's size.
const MAX_INFLIGHT_BLOCKS = 3
const MAX_LEAF_COUNT = 0xffffffff

/** Checks a shard header from the wire: the id must follow the shard_id formula, the sizes must fit. */
export function validateShardHeader(input: unknown, params: ProtocolParams): ShardHeader {
  if (input === null || typeof input !== 'object')
    throw new InvalidInputError('shard header must be an object')
  const h = input as Record<string, unknown>
  if (!isId(h.objectId)) throw new InvalidInputError('objectId must be 64 lower-case hex characters')
  const version = validateVersion(h.version)
  const shardIndex = h.shardIndex
  if (typeof shardIndex !== 'number' || !Number.isInteger(shardIndex) || shardIndex < 0) {
    throw new InvalidInputError('shardIndex must be a non-negative integer')
  }
  if (shardIndex >= params.numShardsPerObject) {
    throw new InvalidInputError(`shardIndex must be below ${params.numShardsPerObject}`)
  }
  if (h.shardId !== deriveShardId(h.objectId, version, shardIndex)) {
    throw new InvalidInputError('shardId does not follow the shard_id formula')
  }
  const length = h.length
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
    throw new InvalidInputError('length must be a non-negative safe integer')
  }
  // A record keeps the block size it was cut with (governance may change it later), so any size
  // the parameter bounds allow is accepted; validateParams owns those bounds.
  const blockSizeBytes = h.blockSizeBytes
  if (typeof blockSizeBytes !== 'number') throw new InvalidInputError('blockSizeBytes must be an integer')
  validateParams({ ...params, blockSizeBytes })
  if (blockCount(length, blockSizeBytes) > MAX_LEAF_COUNT)
    throw new InvalidInputError('shard has too many blocks')
  return { objectId: h.objectId, version, shardIndex, shardId: h.shardId, length, blockSizeBytes }
}

/** A shard whose bytes are all at hand (a small object's), staged without a writer. */
export interface WholeShard {
  header: ShardHeader
  bytes: Uint8Array
}

/** A whole shard cut into blocks and hashed: everything its stage needs but a staging id. */
export interface HashedShard {
  header: ShardHeader
  blocks: Uint8Array[]
  leaves: Uint8Array[]
  merkleRoot: string
}

/** Cuts and hashes a whole shard (no I/O, no lock needed); its bytes must be its header's length. */
export function hashWholeShard(header: ShardHeader, bytes: unknown): HashedShard {
  if (!(bytes instanceof Uint8Array) || bytes.length !== header.length) {
    throw new InvalidInputError(`shard ${header.shardId} has other than its declared ${header.length} bytes`)
  }
  const blocks: Uint8Array[] = []
  for (let off = 0; off < header.length; off += header.blockSizeBytes)
    blocks.push(bytes.subarray(off, Math.min(off + header.blockSizeBytes, header.length)))
  const leaves = blocks.map((b) => leafHash(b))
  return { header, blocks, leaves, merkleRoot: toHex(MerkleTree.fromLeafHashes(leaves).root) }
}

/**
 * The marker and block puts that stage a hashed shard under `stagingId`: the marker is written in
 * its final `staged` state, so the shard is staged by the one batch these go into or not at all.
 */
export function wholeShardOps(
  sublevels: StoreSublevels,
  shard: HashedShard,
  marker: Pick<StagingMarker, 'stagingId' | 'seq' | 'createdMs'>,
): { ops: StoreBatchOp[]; staged: StagedShard } {
  const h = shard.header
  const ops: StoreBatchOp[] = shard.blocks.map((block, index) => ({
    type: 'put',
    sublevel: sublevels.blocks,
    key: blockKey(marker.stagingId, index),
    value: block,
  }))
  const full: StagingMarker = {
    ...marker,
    ...h,
    state: 'staged',
    merkleRoot: shard.merkleRoot,
    leafHashes: shard.leaves,
  }
  ops.push({
    type: 'put',
    sublevel: sublevels.staging,
    key: parseStagingId(marker.stagingId),
    value: encodeMarker(full),
  })
  return {
    ops,
    staged: {
      stagingId: marker.stagingId,
      shardId: h.shardId,
      length: h.length,
      leafCount: shard.leaves.length,
      merkleRoot: shard.merkleRoot,
    },
  }
}

type WriterState = 'open' | 'finished' | 'aborted'

/**
 * Receives one shard's bytes in chunks of any size, cuts them into blocks, hashes each block's leaf
 * and writes each complete block to the database at once: memory stays at a few blocks for any
 * shard size. Calls are queued, so `write` may be called without awaiting the previous one.
 */
export class ShardWriter {
  readonly stagingId: string
  readonly header: ShardHeader
  private readonly host: StagingHost
  private readonly marker: StagingMarker
  private readonly signal: AbortSignal | undefined
  private readonly onAbort: () => void
  private state: WriterState = 'open'
  private block: Uint8Array | null = null
  private filled = 0
  private received = 0
  private nextBlock = 0
  private readonly leaves: Uint8Array[] = []
  private readonly inflight = new Set<Promise<void>>()
  private writeError: unknown = undefined
  private queue: Promise<unknown> = Promise.resolve()
  private aborting: Promise<void> | undefined
  private lastActivity: number
  /** Bytes taken on disk for this stream so far (STREAM_ADMIT_BYTES at a time, ahead of its bytes). */
  private admitted: number
  /** Of those, the bytes of blocks the database has taken: the space guard already has them back. */
  private landed = 0

  constructor(
    host: StagingHost,
    marker: StagingMarker,
    header: ShardHeader,
    admitted: number,
    signal?: AbortSignal,
  ) {
    this.host = host
    this.marker = marker
    this.header = header
    this.admitted = admitted
    this.stagingId = marker.stagingId
    this.signal = signal
    this.onAbort = () => {
      this.abort().catch(() => {})
    }
    signal?.addEventListener('abort', this.onAbort, { once: true })
    if (signal?.aborted) queueMicrotask(this.onAbort)
    this.lastActivity = host.now()
  }

  /** Local time of the last accepted chunk (or of the start): a sweep aborts writers idle too long. */
  get lastActivityMs(): number {
    return this.lastActivity
  }

  /** Bytes the header declared: what the writer may still put on disk. */
  get length(): number {
    return this.header.length
  }

  /** Bytes accepted so far. */
  get bytesReceived(): number {
    return this.received
  }

  /** Bytes of the declared length not yet taken on disk: the quota does not count them yet. */
  get unadmittedBytes(): number {
    return this.header.length - this.admitted
  }

  /** Bytes taken on disk for this stream and not yet landed: what the space guard gets back when it ends. */
  get admittedBytes(): number {
    return this.admitted - this.landed
  }

  /**
   * More bytes than the header's `length` is `INVALID_INPUT`, and the writer accepts nothing after.
   * `leaf` is the chunk's leaf hash when the chunk is exactly the next whole block and the caller,
   * in this process, already hashed it (a coordinator staging its own replica): the block is then
   * not hashed again. Bytes from a peer never come with one.
   */
  write(chunk: Uint8Array, leaf?: Uint8Array): Promise<void> {
    return this.enqueue(() => this.writeNow(chunk, leaf))
  }

  /** Fewer bytes than the header's `length` is `INVALID_INPUT` (the writer stays open for more). */
  finish(): Promise<StagedShard> {
    return this.enqueue(() => this.finishNow())
  }

  /** Deletes what was staged (unless a commit already took it); safe to call more than once. */
  abort(): Promise<void> {
    if (this.aborting) return this.aborting
    const wasStreaming = this.state === 'open'
    this.state = 'aborted'
    this.aborting = (async () => {
      this.signal?.removeEventListener('abort', this.onAbort)
      await this.queue.catch(() => {})
      await Promise.allSettled(this.inflight)
      try {
        await this.host.releaseStaging(this.stagingId)
      } finally {
        if (wasStreaming) this.host.writerDone(this)
      }
    })()
    return this.aborting
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task)
    this.queue = run.catch(() => {})
    return run
  }

  private assertWritable(): void {
    this.signal?.throwIfAborted()
    if (this.state !== 'open') throw new InvalidInputError(`shard writer is ${this.state}`)
    this.host.assertOpen()
    if (this.writeError !== undefined) throw this.writeError
  }

  private async writeNow(chunk: Uint8Array, leaf?: Uint8Array): Promise<void> {
    this.assertWritable()
    if (!(chunk instanceof Uint8Array)) throw new InvalidInputError('a shard chunk must be a Uint8Array')
    if (chunk.length > this.header.length - this.received) {
      // The shard can no longer be right: drop it now rather than wait for the caller to.
      this.failAndDiscard()
      throw new InvalidInputError(`shard is longer than its declared ${this.header.length} bytes`)
    }
    const short = this.received + chunk.length - this.admitted
    if (short > 0) {
      const more = Math.min(
        this.header.length - this.admitted,
        Math.ceil(short / STREAM_ADMIT_BYTES) * STREAM_ADMIT_BYTES,
      )
      try {
        await this.host.admitStream(more, () => {
          this.admitted += more
        })
      } catch (err) {
        this.failAndDiscard()
        throw err
      }
      this.assertWritable()
    }
    this.lastActivity = this.host.now()
    const size = this.header.blockSizeBytes
    if (leaf !== undefined) {
      const expected = Math.min(size, this.header.length - this.nextBlock * size)
      if (
        this.filled !== 0 ||
        chunk.length === 0 ||
        chunk.length !== expected ||
        !(leaf instanceof Uint8Array) ||
        leaf.length !== SHA3_BYTES
      ) {
        this.failAndDiscard()
        throw new InvalidInputError('a leaf hash comes only with the next whole block')
      }
      // A copy, as for any chunk: the caller's buffer is not ours to keep (memory-level stores
      // the very view it is given).
      this.block = chunk.slice()
      this.filled = chunk.length
      this.received += chunk.length
      await this.flushBlock(leaf)
      return
    }
    let off = 0
    while (off < chunk.length) {
      this.block ??= new Uint8Array(Math.min(size, this.header.length - this.nextBlock * size))
      const take = Math.min(this.block.length - this.filled, chunk.length - off)
      this.block.set(chunk.subarray(off, off + take), this.filled)
      this.filled += take
      this.received += take
      off += take
      if (this.filled === this.block.length) {
        await this.flushBlock()
        // An abort may have arrived while this write waited for the database.
        if (off < chunk.length) this.assertWritable()
      }
    }
  }

  private failAndDiscard(): void {
    this.abort().catch(() => {})
  }

  private async flushBlock(leaf?: Uint8Array): Promise<void> {
    const block = this.block!
    const index = this.nextBlock++
    this.block = null
    this.filled = 0
    this.leaves.push(leaf ?? leafHash(block))
    const put: Promise<void> = this.host.sublevels.blocks.put(blockKey(this.stagingId, index), block).then(
      () => {
        this.inflight.delete(put)
        // Landed block by block: a free-space reading no longer counts these bytes as free, and
        // the guard must not count them as still to come too, or a long stream would be refused
        // its later parts for room it has (finish and abort wait for every put before writerDone).
        this.landed += block.length
        this.host.streamLanded(block.length)
      },
      (err: unknown) => {
        this.inflight.delete(put)
        this.writeError ??= storageFullFrom(err)
        this.failAndDiscard()
      },
    )
    this.inflight.add(put)
    while (this.inflight.size >= MAX_INFLIGHT_BLOCKS) await Promise.race(this.inflight)
    if (this.writeError !== undefined) throw this.writeError
  }

  private async finishNow(): Promise<StagedShard> {
    this.assertWritable()
    if (this.received !== this.header.length) {
      throw new InvalidInputError(`shard has ${this.received} of its declared ${this.header.length} bytes`)
    }
    await Promise.allSettled(this.inflight)
    this.assertWritable()
    const root = toHex(MerkleTree.fromLeafHashes(this.leaves).root)
    const marker: StagingMarker = {
      ...this.marker,
      // A staged shard's age counts from when it is complete: a long write's early shards must not
      // reach the sweep's age while later ones still stream.
      createdMs: this.host.now(),
      state: 'staged',
      merkleRoot: root,
      leafHashes: this.leaves,
    }
    await this.host.sublevels.staging
      .put(parseStagingId(this.stagingId), encodeMarker(marker))
      .catch((err: unknown) => {
        throw storageFullFrom(err)
      })
    this.assertWritable()
    this.state = 'finished'
    this.signal?.removeEventListener('abort', this.onAbort)
    this.host.writerDone(this)
    return {
      stagingId: this.stagingId,
      shardId: this.header.shardId,
      length: this.header.length,
      leafCount: this.leaves.length,
      merkleRoot: root,
    }
  }
}
