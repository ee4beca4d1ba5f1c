import { bytesMod, parseId, u64, utf8 } from './bytes.js'
import { EmptyShardError, InvalidInputError } from './errors.js'
import { createSha3 } from './hash.js'

const CHALLENGE_DOMAIN = utf8('QFS-CHALLENGE')
const MAX_LEAF_COUNT = 0xffffffff

/**
 * PROTOCOL.md "Merkle proofs of storage":
 * `challenge_seed(epoch) = H(utf8("QFS-CHALLENGE") || u64(epoch) || snapshot_hash)`. The snapshot
 * hash makes the challenged leaves unknowable before the epoch's eligibility snapshot exists.
 */
export function challengeSeed(epoch: number | bigint, snapshotHash: string): Uint8Array {
  const epochBytes = u64(epoch)
  const snapshot = parseId(snapshotHash, 'snapshot_hash')
  return createSha3().update(CHALLENGE_DOMAIN).update(epochBytes).update(snapshot).digest()
}

/** `challenge_index = int(H(challenge_seed || shard_id)) mod leaf_count`; `EMPTY_SHARD` for no leaves. */
export function challengeIndex(seed: Uint8Array, shardId: string, leafCount: number): number {
  if (!(seed instanceof Uint8Array) || seed.length !== 32)
    throw new InvalidInputError('challenge seed must be 32 bytes')
  const shard = parseId(shardId, 'shard_id')
  if (
    typeof leafCount !== 'number' ||
    !Number.isInteger(leafCount) ||
    leafCount < 0 ||
    leafCount > MAX_LEAF_COUNT
  ) {
    throw new InvalidInputError(`leaf count must be an integer in 0..${MAX_LEAF_COUNT}`)
  }
  if (leafCount === 0) throw new EmptyShardError('an empty shard has no leaf to challenge')
  return bytesMod(createSha3().update(seed).update(shard).digest(), leafCount)
}
