import { u32 } from './bytes.js'
import { InvalidInputError } from './errors.js'
import { createSha3, type Sha3Hasher } from './hash.js'

/**
 * `hash_commit = H(content || u32(schema_version) || metadata_seed)` (PROTOCOL.md "Identifiers"),
 * fed as the content arrives so that an object of any size is hashed in constant memory.
 */
export class HashCommitBuilder {
  private readonly hasher: Sha3Hasher = createSha3()
  private hashed = 0
  private done = false

  update(chunk: Uint8Array): this {
    if (this.done) throw new InvalidInputError('hash_commit already computed')
    if (!(chunk instanceof Uint8Array)) throw new InvalidInputError('content chunk must be a Uint8Array')
    this.hasher.update(chunk)
    this.hashed += chunk.length
    return this
  }

  /** Content bytes fed so far. */
  get bytesHashed(): number {
    return this.hashed
  }

  /** Finishes the hash; the arguments are checked before the hasher is consumed. */
  digest(schemaVersion: number, metadataSeed: Uint8Array): Uint8Array {
    if (this.done) throw new InvalidInputError('hash_commit already computed')
    const version = u32(schemaVersion)
    if (!(metadataSeed instanceof Uint8Array) || metadataSeed.length !== 32) {
      throw new InvalidInputError('metadata_seed must be 32 bytes')
    }
    this.done = true
    return this.hasher.update(version).update(metadataSeed).digest()
  }
}

/** One-shot `hash_commit` of content held in memory. */
export function hashCommit(content: Uint8Array, schemaVersion: number, metadataSeed: Uint8Array): Uint8Array {
  return new HashCommitBuilder().update(content).digest(schemaVersion, metadataSeed)
}
