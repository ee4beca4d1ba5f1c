import { equalBytes, fromHex, toHex } from '../core/bytes.js'
import { HashCommitBuilder } from '../core/commit.js'
import { EmptyShardError } from '../core/errors.js'
import { leafHash, MerkleTree } from '../core/merkle.js'
import { metadataSeed } from '../core/metadata.js'
import { type StorageProof, verifyStorageProof } from '../core/proof.js'
import type { ShardDescriptor, VersionRecord } from '../core/record.js'
import { codeOf, type EngineContext, replicaOrder, underRequestDeadline } from './context.js'
import {
  IntegrityMismatchError,
  ObjectNotFoundError,
  ProofUnavailableError,
  ShardUnavailableError,
} from './errors.js'
import { holdsOtherRecordCopy } from './other-record.js'
import type { FirstBlockPrefetch, PrefetchedBlock } from './prefetch.js'
import type { ShardReadInfo } from './responses.js'

/**
 * The reason a read's own fetches are stopped with: one instance made once. An abort reason made
 * per call would capture its stack, and with it the readers and their buffers; Node 22 keeps some
 * aborted composite signals (AbortSignal.any with a timeout among its sources) reachable, and their
 * reasons with them (nodejs/node#54614), so a per-call reason kept every stopped read's buffers alive.
 */
const READ_STOPPED = new Error('read stopped')

/** How far ahead of the bytes being read shards are requested from their replicas. */
const READ_AHEAD_BYTES = 4 * 1024 * 1024

/**
 * The content of a version, block by block in shard-index order. Every block is checked against
 * the leaf hashes a replica serves, those against the record's Merkle root, and (with
 * `checkCommit`) the whole content against `hash_commit` at the end. A replica that is down or
 * serves bad bytes is skipped and the next one continues from the same block.
 */
export async function* readVersion(
  ctx: EngineContext,
  record: VersionRecord,
  served: ShardReadInfo[] = [],
  signal?: AbortSignal,
  checkCommit = true,
  prefetch?: FirstBlockPrefetch,
): AsyncGenerator<Uint8Array> {
  const commit = checkCommit ? new HashCommitBuilder() : undefined
  const shards = record.shards.map((shard) => {
    const info: ShardReadInfo = {
      shard_id: shard.shard_id,
      shard_index: shard.shard_index,
      merkle_root: shard.merkle_root,
      leaf_count: shard.leaf_count,
      served_by: null,
    }
    served.push(info)
    return { shard, info }
  })
  // Read ahead: a shard is asked for once the bytes still to read before it fit READ_AHEAD_BYTES,
  // so no round trip is paid between shards and the shards of a small object are fetched at once.
  // What waits is bounded by each fetch stream's backpressure, and is dropped if the reader stops.
  const readers: ShardReader[] = []
  const offsets: number[] = []
  let offset = 0
  for (const { shard } of shards) {
    offsets.push(offset)
    offset += shard.length
  }
  let consumed = 0
  const startAhead = (): void => {
    while (readers.length < shards.length && offsets[readers.length]! - consumed <= READ_AHEAD_BYTES) {
      const { shard, info } = shards[readers.length]!
      readers.push(new ShardReader(ctx, record, shard, info, signal, prefetch))
    }
  }
  try {
    // Prefetched first blocks of shards beyond the read-ahead are not held until their turn.
    startAhead()
    prefetch?.cancel()
    for (let i = 0; i < shards.length; i++) {
      startAhead()
      if (readers.length <= i)
        readers.push(new ShardReader(ctx, record, shards[i]!.shard, shards[i]!.info, signal, prefetch))
      for await (const block of readers[i]!.blocks()) {
        commit?.update(block)
        consumed += block.length
        startAhead()
        yield block
      }
    }
  } finally {
    prefetch?.cancel()
    for (const r of readers) r?.cancel()
  }
  if (commit === undefined) return
  const digest = toHex(commit.digest(record.schema_version, metadataSeed(record.metadata)))
  if (digest !== record.hash_commit) {
    throw new IntegrityMismatchError(
      `content hashes to ${digest}, the record commits to ${record.hash_commit}`,
    )
  }
}

/**
 * One shard's verified blocks. The first replica in read order is asked at construction, manifest
 * and blocks together (blocks are checked against the manifest once it has verified against the
 * record); a replica that is down or serves bad bytes is skipped, and the next one continues from
 * the same block.
 */
class ShardReader {
  private readonly controller = new AbortController()
  private readonly signal: AbortSignal
  private readonly first:
    | {
        node: string
        stop: AbortController
        leaves: Promise<Uint8Array[]>
        iterator: AsyncIterator<Uint8Array>
        head: Promise<IteratorResult<Uint8Array>>
      }
    | undefined
  private consumed = false
  /** Fixed at construction: the replica asked ahead is the one `blocks()` starts with. */
  private readonly order: string[]

  constructor(
    private readonly ctx: EngineContext,
    private readonly record: VersionRecord,
    private readonly shard: ShardDescriptor,
    private readonly info: ShardReadInfo,
    signal?: AbortSignal,
    prefetch?: FirstBlockPrefetch,
  ) {
    this.signal =
      signal === undefined ? this.controller.signal : AbortSignal.any([signal, this.controller.signal])
    this.order = replicaOrder(shard.replicas, ctx.nodeId, ctx.health)
    if (shard.length === 0) return
    const node = this.order[0]!
    const stop = new AbortController()
    const attempt = AbortSignal.any([this.signal, stop.signal])
    const leaves = verifiedLeaves(ctx, node, shard, attempt)
    const adopted = prefetch?.take(shard.shard_id, node, record.block_size_bytes)
    const fetchFrom = (from: number) =>
      ctx.transport.fetchShard(node, shard.shard_id, from, {
        signal: attempt,
        blocks: shard.leaf_count - from,
        blockSizeBytes: record.block_size_bytes,
      })
    const iterator = (
      adopted === undefined ? fetchFrom(0) : adoptedBlocks(adopted, attempt, shard.leaf_count, fetchFrom)
    )[Symbol.asyncIterator]()
    const head = iterator.next()
    // Both are settled by blocks(); until then a failure must not count as unhandled.
    leaves.catch(() => {})
    head.catch(() => {})
    this.first = { node, stop, leaves, iterator, head }
  }

  /** Stops whatever is still in flight (a read that ended early, or a shard never read). */
  cancel(): void {
    this.controller.abort(READ_STOPPED)
    // A shard asked for ahead but never read: no blocks() will release its replica stream or the
    // local store's iterator, which would otherwise stay open (with their buffers) for good.
    if (!this.consumed) void this.first?.iterator.return?.(undefined)?.catch(() => {})
  }

  async *blocks(): AsyncGenerator<Uint8Array> {
    if (this.consumed) throw new TypeError('a shard is read once')
    this.consumed = true
    const { shard, record } = this
    if (shard.length === 0) return
    let next = 0
    const failures: string[] = []
    let corrupt = false
    for (const node of this.order) {
      const early = this.first?.node === node && next === 0 ? this.first : undefined
      const stop = early?.stop ?? new AbortController()
      const attempt = AbortSignal.any([this.signal, stop.signal])
      let iterator: AsyncIterator<Uint8Array> | undefined = early?.iterator
      try {
        const leaves = await (early?.leaves ?? verifiedLeaves(this.ctx, node, shard, attempt))
        iterator ??= this.ctx.transport
          .fetchShard(node, shard.shard_id, next, {
            signal: attempt,
            blocks: shard.leaf_count - next,
            blockSizeBytes: record.block_size_bytes,
          })
          [Symbol.asyncIterator]()
        let step = await (early?.head ?? iterator.next())
        while (step.done !== true) {
          const block = step.value
          const expectedLength = Math.min(
            record.block_size_bytes,
            shard.length - next * record.block_size_bytes,
          )
          if (block.length !== expectedLength || !equalBytes(leafHash(block), leaves[next]!)) {
            throw new IntegrityMismatchError(
              `block ${next} of shard ${shard.shard_index} from ${node} does not verify`,
            )
          }
          this.info.served_by = node
          next++
          yield block
          if (next === shard.leaf_count) {
            this.ctx.health?.answered(node)
            return
          }
          step = await iterator.next()
        }
        throw new IntegrityMismatchError(
          `${node} ended shard ${shard.shard_index} after ${next} of ${shard.leaf_count} blocks`,
        )
      } catch (err) {
        if (this.signal.aborted) throw err
        // A home's copy of a racing writer's shard is not damage: counted as that node's refusal,
        // and the read goes on as for a replica that does not hold the shard yet.
        const otherRecord =
          isCorruption(err) && (await holdsOtherRecordCopy(this.ctx, node, record, shard, this.signal))
        const code = otherRecord ? 'VERSION_CONFLICT' : codeOf(err)
        failures.push(otherRecord ? `${node}: holds another record's copy` : `${node}: ${code}`)
        this.ctx.health?.failed(node, code)
        if (isCorruption(err) && !otherRecord) corrupt = true
      } finally {
        // Stops the replica's stream (a reader that has every block resets it, as before).
        stop.abort(READ_STOPPED)
        await iterator?.return?.()?.catch(() => {})
      }
    }
    const why = `no replica could serve shard ${shard.shard_index} of ${record.object_id} v${record.version} (${failures.join('; ')})`
    // Bad bytes somewhere is the finding that matters; otherwise the shard is only out of reach.
    throw corrupt ? new IntegrityMismatchError(why) : new ShardUnavailableError(why)
  }
}

/**
 * A shard's blocks from the replica whose first block was prefetched: that block, then the rest,
 * asked for from block 1 at once (as a fetch from block 0 would stream them), not when the reader
 * gets to block 1. Unchecked, like any fetch's: ShardReader checks each block it yields. The
 * prefetch is stopped with the attempt, and the rest when the reader leaves.
 */
function adoptedBlocks(
  adopted: PrefetchedBlock,
  attempt: AbortSignal,
  leafCount: number,
  fetchFrom: (block: number) => AsyncIterable<Uint8Array>,
): AsyncIterable<Uint8Array> {
  const stop = () => adopted.stop.abort(attempt.reason)
  if (attempt.aborted) stop()
  else attempt.addEventListener('abort', stop, { once: true })
  const rest = leafCount > 1 ? fetchFrom(1)[Symbol.asyncIterator]() : undefined
  const restHead = rest?.next()
  // Settled by the generator below; until then a failure must not count as unhandled.
  restHead?.catch(() => {})
  return (async function* () {
    try {
      const block = await adopted.block
      if (block === undefined) return
      yield block
      if (rest === undefined) return
      let step = await restHead!
      while (step.done !== true) {
        yield step.value
        step = await rest.next()
      }
    } finally {
      attempt.removeEventListener('abort', stop)
      await rest?.return?.()?.catch(() => {})
    }
  })()
}

/** A replica's leaf hashes, accepted only if they rebuild the root the record commits to. */
async function verifiedLeaves(
  ctx: EngineContext,
  node: string,
  shard: ShardDescriptor,
  signal?: AbortSignal,
): Promise<Uint8Array[]> {
  // RFC 9162: the root of a one-leaf tree is that leaf's hash, so the record already names it and
  // no replica needs to be asked (every shard of an object under 4 blocks, one stream fewer each).
  if (shard.leaf_count === 1) return [fromHex(shard.merkle_root, 'merkle root')]
  const manifest = await underRequestDeadline(ctx, signal, (s) =>
    ctx.transport.getManifest(node, shard.shard_id, { signal: s }),
  )
  if (manifest === undefined) throw new ObjectNotFoundError(`${node} does not hold shard ${shard.shard_id}`)
  const leaves = manifest.leaf_hashes.map((h) => fromHex(h, 'leaf hash'))
  const root = MerkleTree.fromLeafHashes(leaves).root
  if (leaves.length !== shard.leaf_count || toHex(root) !== shard.merkle_root) {
    throw new IntegrityMismatchError(
      `${node}'s manifest of shard ${shard.shard_index} does not match the record`,
    )
  }
  return leaves
}

/** A proof for one block of a shard, from the first replica whose answer verifies against the record. */
export async function proveShard(
  ctx: EngineContext,
  record: VersionRecord,
  shardId: string,
  leafIndex: (shard: ShardDescriptor) => number,
  signal?: AbortSignal,
): Promise<{ proof: StorageProof; shard: ShardDescriptor; answeredBy: string }> {
  const shard = record.shards.find((s) => s.shard_id === shardId)
  if (shard === undefined) throw new ObjectNotFoundError(`shard ${shardId} is not part of this version`)
  if (shard.leaf_count === 0) throw new EmptyShardError(`shard ${shardId} is empty and cannot be challenged`)
  const index = leafIndex(shard)
  const failures: string[] = []
  for (const node of replicaOrder(shard.replicas, ctx.nodeId, ctx.health)) {
    try {
      const proof = await underRequestDeadline(ctx, signal, (s) =>
        ctx.transport.proveShard(node, shardId, index, { signal: s }),
      )
      const verdict = verifyStorageProof(proof, {
        merkleRoot: shard.merkle_root,
        shardId,
        leafIndex: index,
        leafCount: shard.leaf_count,
        objectId: record.object_id,
        version: record.version,
      })
      if (verdict.ok) {
        ctx.health?.answered(node)
        return { proof, shard, answeredBy: node }
      }
      failures.push(`${node}: ${verdict.reason}`)
      ctx.health?.failed(node, 'PROOF_INVALID')
    } catch (err) {
      if (signal?.aborted === true) throw err
      failures.push(`${node}: ${codeOf(err)}`)
      ctx.health?.failed(node, codeOf(err))
    }
  }
  throw new ProofUnavailableError(
    `no replica proved block ${index} of shard ${shardId} (${failures.join('; ')})`,
  )
}

/** Bad bytes served (a block or leaves that do not verify), as opposed to a replica that is away. */
function isCorruption(err: unknown): boolean {
  const code = codeOf(err)
  return code === IntegrityMismatchError.code || code === 'ROOT_MISMATCH'
}
