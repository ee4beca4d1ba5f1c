import { toHex } from '../core/bytes.js'
import { HashCommitBuilder } from '../core/commit.js'
import { metadataSeed } from '../core/metadata.js'
import type { VersionRecord } from '../core/record.js'
import { IntegrityMismatchError } from '../engine/errors.js'

/**
 * Checks content as it streams in against the version record of the read header: exactly
 * `content_size` bytes that hash, with the record's schema version and metadata seed, to
 * `hash_commit`. Pieces may arrive cut anywhere; nothing is copied or held.
 *
 * The shards' Merkle roots are not rebuilt here. They are the serving node's check: it tests every
 * block against leaf hashes it verified against the record's roots, which is what lets it skip a
 * bad replica and go on from the same block. Repeating that on the client bought nothing: the
 * record arrives from the same node as the bytes, so a node that lies can send roots to match
 * whatever it serves, while `hash_commit` is what the writer computed over the content and what a
 * client can know independently (its own put answer, an index). It cost the client a second SHA3
 * pass over every byte.
 */
export class ContentVerifier {
  private readonly record: VersionRecord
  private readonly commit = new HashCommitBuilder()
  private received = 0

  constructor(record: VersionRecord) {
    this.record = record
  }

  /** Bytes taken so far. */
  get bytes(): number {
    return this.received
  }

  update(piece: Uint8Array): void {
    if (piece.length > this.record.content_size - this.received) {
      throw new IntegrityMismatchError(`more than the record's ${this.record.content_size} bytes`)
    }
    this.commit.update(piece)
    this.received += piece.length
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
}
