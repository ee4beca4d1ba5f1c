import { BigNum128 } from './bignum.js'
import { InvalidInputError } from './errors.js'

/** QFS's constant: 100 ATR per KiB at the default 4 shards x 3 replicas. */
export const ATR_BASE_STORAGE_COST_PER_KB: BigNum128 = BigNum128.fromInteger(100)

const KIB = 1024n
// The default shard count times the default replication factor: the fee is per KiB at that layout.
const DEFAULT_COPIES = BigNum128.fromInteger(12)

function checkInteger(value: unknown, name: string, min: number): bigint {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidInputError(`${name} must be a safe integer >= ${min}`)
  }
  return BigInt(value)
}

/**
 * PROTOCOL.md "ATR storage fee of one write":
 * `BASE * max(1, ceil(size / 1024)) * (num_shards * replication_factor) / 12`, the product exact
 * and the division by 12 floored. The product is itself a BigNum128, so a product above the
 * range is `OVERFLOW` even where the quotient would fit: every step is a CertifiedMath value.
 */
export function atrCost(contentSize: number, numShards: number, replicationFactor: number): BigNum128 {
  const size = checkInteger(contentSize, 'content_size', 0)
  const shards = checkInteger(numShards, 'num_shards', 1)
  const replicas = checkInteger(replicationFactor, 'replication_factor', 1)
  // Integer ceil: (size + 1023) / 1024 truncates toward zero, and size >= 0.
  const kib = size === 0n ? 1n : (size + KIB - 1n) / KIB
  const product = ATR_BASE_STORAGE_COST_PER_KB.mul(BigNum128.fromInteger(kib)).mul(
    BigNum128.fromInteger(shards * replicas),
  )
  return product.div(DEFAULT_COPIES)
}
