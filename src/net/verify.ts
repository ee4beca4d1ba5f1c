import { toHex } from '../core/bytes.js'
import { HashCommitBuilder } from '../core/commit.js'
import { createSha3, type Sha3Hasher } from '../core/hash.js'
import { MerkleTree } from '../core/merkle.js'
import { metadataSeed } from '../core/metadata.js'
import type { VersionRecord } from '../core/record.js'
import { IntegrityMismatchError } from '../engine/errors.js'

const LEAF_PREFIX = Uint8Array.of(0x00)

/**
 * Checks content as it streams in against a version record, trusting nobody who served it: each
 * shard's blocks must rebuild the record's Merkle root (RFC 9162 leaves `H(0x00 || block)`), and the
 * whole content must hash to `hash_commit`. Pieces may arrive cut anywhere; nothing is copied or held
 * beyond one leaf hash per block of the current shard.
 */
export class ContentVerifier {
  private readonly record: VersionRecord
  private readonly commit = new HashCommitBuilder()
  private shard = -1
  private shardRemaining = 0
  private blockRemaining = 0
  private leaf: Sha3Hasher | undefined
  private leaves: Uint8Array[] = []
  private received = 0

  constructor(record: VersionRecord) {
    this.record = record
    this.nextShard()
  }

  /** Bytes checked so far. */
  get bytes(): number {
    return this.received
  }

  update(piece: Uint8Array): void {
    if (piece.length > this.record.content_size - this.received) {
      throw new IntegrityMismatchError(`more than the record's ${this.record.content_size} bytes`)
    }
    this.commit.update(piece)
    this.received += piece.length
    let off = 0
    while (off < piece.length) {
      if (this.leaf === undefined) {
        this.leaf = createSha3().update(LEAF_PREFIX)
        this.blockRemaining = Math.min(this.record.block_size_bytes, this.shardRemaining)
      }
      const take = Math.min(this.blockRemaining, piece.length - off)
      this.leaf.update(piece.subarray(off, off + take))
      off += take
      this.blockRemaining -= take
      this.shardRemaining -= take
      if (this.blockRemaining === 0) {
        this.leaves.push(this.leaf.digest())
        this.leaf = undefined
        if (this.shardRemaining === 0) this.closeShard()
      }
    }
  }

  /** Throws INTEGRITY_MISMATCH unless exactly the record's content arrived. */
  finish(): void {
    if (this.received !== this.record.content_size) {
      throw new IntegrityMismatchError(
        `${this.received} of the record's ${this.record.content_size} bytes arrived`,
      )
    }
    const digest = toHex(this.commit.digest(this.record.schema_version, metadataSeed(this.record.metadata)))
    if (digest !== this.record.hash_commit) {
      throw new IntegrityMismatchError(
        `content hashes to ${digest}, the record commits to ${this.record.hash_commit}`,
      )
    }
  }

  private closeShard(): void {
    const shard = this.record.shards[this.shard]!
    const root = toHex(MerkleTree.fromLeafHashes(this.leaves).root)
    if (root !== shard.merkle_root || this.leaves.length !== shard.leaf_count) {
      throw new IntegrityMismatchError(`shard ${shard.shard_index} does not rebuild the record's Merkle root`)
    }
    this.leaves = []
    this.nextShard()
  }

  /** Moves to the next shard that has bytes (empty shards have no leaves to check). */
  private nextShard(): void {
    do {
      this.shard++
    } while (this.shard < this.record.shards.length && this.record.shards[this.shard]!.length === 0)
    this.shardRemaining = this.shard < this.record.shards.length ? this.record.shards[this.shard]!.length : 0
  }
}
