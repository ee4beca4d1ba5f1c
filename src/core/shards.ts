import { InvalidInputError } from './errors.js'
import { MerkleTree } from './merkle.js'
import type { ProtocolParams } from './params.js'

/** Bytes `[start, end)`; `index` is the shard index, or the block index within its shard. */
export interface ByteRange {
  index: number
  start: number
  end: number
}

/** One shard of an object with its Merkle tree over its blocks. */
export interface ShardLayout {
  index: number
  start: number
  length: number
  blockCount: number
  merkleRoot: Uint8Array
  leafHashes: Uint8Array[]
}

export interface ContentBlock {
  shardIndex: number
  blockIndex: number
  block: Uint8Array
  contentOffset: number
}

/**
 * PROTOCOL.md "Shards and blocks": `s = ceil(L / n)`, shard `i` is `[i*s, min((i+1)*s, L))`, empty
 * when `i*s >= L` (an empty shard's range is `[L, L)`). Always `n` entries.
 *
 * Integer arithmetic only, exact for every L up to 2^53-1: `(L - L % n) / n` is an exact quotient,
 * and the running start is clamped at L. The sum `start + s` may pass 2^53 and round, but only when
 * its exact value is already >= L, and rounding to nearest never takes a value >= L below L.
 */
export function shardRanges(contentLength: number, params: ProtocolParams): ByteRange[] {
  const length = safeLength(contentLength, 'content length')
  const n = positive(params.numShardsPerObject, 'numShardsPerObject')
  const s = ceilDiv(length, n)
  const ranges: ByteRange[] = []
  let start = 0
  for (let i = 0; i < n; i++) {
    const end = Math.min(start + s, length)
    ranges.push({ index: i, start, end })
    start = end
  }
  return ranges
}

/** `ceil(length / blockSize)`: a shard's leaf count (0 for an empty shard). */
export function blockCount(length: number, blockSize: number): number {
  return ceilDiv(safeLength(length, 'length'), positive(blockSize, 'block size'))
}

/** Block ranges relative to the shard's first byte; the last block may be shorter. */
export function blockRanges(shardLength: number, blockSize: number): ByteRange[] {
  const count = blockCount(shardLength, blockSize)
  const ranges: ByteRange[] = []
  for (let j = 0; j < count; j++) {
    const start = j * blockSize
    ranges.push({ index: j, start, end: Math.min(start + blockSize, shardLength) })
  }
  return ranges
}

/**
 * Cuts content that arrives in chunks of any size into the blocks of its shards, in content order.
 * A block that lies inside one chunk is yielded as a view of that chunk (no copy; the caller must not
 * reuse the chunk's memory while it holds the block); a block that straddles chunks is assembled in a
 * fresh buffer, so at most one block is ever copied. A source that delivers more or fewer than
 * `contentLength` bytes is `INVALID_INPUT`.
 */
export async function* splitIntoBlocks(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  contentLength: number,
  params: ProtocolParams,
): AsyncGenerator<ContentBlock> {
  const shards = shardRanges(contentLength, params)
  const blockSize = positive(params.blockSizeBytes, 'blockSizeBytes')
  const cursor = new BlockCursor(shards, blockSize)
  let pos = 0
  let pending: Uint8Array | null = null
  for await (const chunk of source) {
    if (!(chunk instanceof Uint8Array)) throw new InvalidInputError('content chunk must be a Uint8Array')
    let off = 0
    while (off < chunk.length) {
      const b = cursor.current
      if (b === null) throw new InvalidInputError(`content longer than ${contentLength} bytes`)
      const blockLength = b.end - b.start
      if (pending === null && chunk.length - off >= blockLength) {
        yield {
          shardIndex: b.shardIndex,
          blockIndex: b.blockIndex,
          block: chunk.subarray(off, off + blockLength),
          contentOffset: b.start,
        }
        off += blockLength
        pos += blockLength
        cursor.next()
        continue
      }
      pending ??= new Uint8Array(blockLength)
      const take = Math.min(b.end - pos, chunk.length - off)
      pending.set(chunk.subarray(off, off + take), pos - b.start)
      off += take
      pos += take
      if (pos === b.end) {
        const block: Uint8Array = pending
        pending = null
        cursor.next()
        yield { shardIndex: b.shardIndex, blockIndex: b.blockIndex, block, contentOffset: b.start }
      }
    }
  }
  if (pos !== contentLength) throw new InvalidInputError(`content is ${pos} bytes, expected ${contentLength}`)
}

/** Every shard's range, blocks and Merkle tree for content held in memory. */
export function computeShardLayout(content: Uint8Array, params: ProtocolParams): ShardLayout[] {
  if (!(content instanceof Uint8Array)) throw new InvalidInputError('content must be a Uint8Array')
  const blockSize = positive(params.blockSizeBytes, 'blockSizeBytes')
  return shardRanges(content.length, params).map((r) => {
    const shard = content.subarray(r.start, r.end)
    const tree = MerkleTree.fromBlocks(
      blockRanges(shard.length, blockSize).map((b) => shard.subarray(b.start, b.end)),
    )
    return {
      index: r.index,
      start: r.start,
      length: r.end - r.start,
      blockCount: tree.leafCount,
      merkleRoot: tree.root,
      leafHashes: tree.leafHashes().slice(),
    }
  })
}

interface BlockPosition {
  shardIndex: number
  blockIndex: number
  /** Content offsets, not shard offsets. */
  start: number
  end: number
}

/** Walks the non-empty blocks of all shards in content order without materializing them. */
class BlockCursor {
  current: BlockPosition | null = null
  private shard = -1

  constructor(
    private readonly shards: readonly ByteRange[],
    private readonly blockSize: number,
  ) {
    this.nextShard()
  }

  next(): void {
    const b = this.current
    if (b === null) return
    const shardEnd = this.shards[b.shardIndex]!.end
    if (b.end < shardEnd) {
      this.current = {
        shardIndex: b.shardIndex,
        blockIndex: b.blockIndex + 1,
        start: b.end,
        end: Math.min(b.end + this.blockSize, shardEnd),
      }
    } else {
      this.nextShard()
    }
  }

  private nextShard(): void {
    this.current = null
    while (++this.shard < this.shards.length) {
      const r = this.shards[this.shard]!
      if (r.end > r.start) {
        this.current = {
          shardIndex: r.index,
          blockIndex: 0,
          start: r.start,
          end: Math.min(r.start + this.blockSize, r.end),
        }
        return
      }
    }
  }
}

function ceilDiv(a: number, b: number): number {
  const r = a % b
  return (a - r) / b + (r === 0 ? 0 : 1)
}

function safeLength(value: number, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidInputError(`${what} must be a safe integer >= 0`)
  }
  return value
}

function positive(value: number, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidInputError(`${what} must be a positive integer`)
  }
  return value
}
