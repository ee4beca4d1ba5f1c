import { BigNum128 } from './bignum.js'
import { compareUtf8 } from './bytes.js'
import { DuplicateNodeError, InvalidMetricsError } from './errors.js'

/** Below this many nodes with a positive weight nobody is paid: the pool goes back to the treasury. */
export const NOD_MIN_ACTIVE_NODES = 3
/** QFS's economic constant: no node takes more than 30% of an epoch's pool. */
export const MAX_NODE_REWARD_SHARE: BigNum128 = BigNum128.parse('0.3')
/** The share of an epoch's collected ATR fees that funds its NOD pool. */
export const NOD_ALLOCATION_FRACTION: BigNum128 = BigNum128.parse('0.10')
/** The most NOD one epoch may issue, whatever the fees. */
export const NOD_MAX_ISSUANCE_PER_EPOCH: BigNum128 = BigNum128.fromInteger(1_000_000)

// PROTOCOL.md step 2: multiplier by uptime bucket 0..4.
const MULTIPLIERS: readonly BigNum128[] = ['0', '0.25', '0.5', '0.75', '1'].map((t) => BigNum128.parse(t))
// Basis-point thresholds of buckets 4, 3, 2, 1 (step 1).
const BUCKET_FLOORS: readonly (readonly [number, number])[] = [
  [9900, 4],
  [9500, 3],
  [9000, 2],
  [5000, 1],
]

// In a `u` regex a surrogate pair is one code point, so this matches only unpaired halves.
const LONE_SURROGATE_RE = /[\uD800-\uDFFF]/u

/** One eligible node's aggregated epoch telemetry (snake_case: it arrives as JSON). */
export interface NodeRewardMetrics {
  node_id: string
  bytes_stored: number | bigint
  uptime_up: number
  uptime_total: number
  proofs_challenged: number
  proofs_passed: number
}

/**
 * Every map is keyed by node id and built in UTF-8 byte order of the ids; `node_ids` holds that
 * order explicitly, because a JS object lists integer-like keys (`"9"`, `"10"`) first whatever the
 * insertion order.
 */
export interface NodRewardResult {
  node_ids: string[]
  weights: Record<string, BigNum128>
  rewards: Record<string, BigNum128>
  carry: BigNum128
  uptime_buckets: Record<string, number>
}

function checkCount(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidMetricsError(`${what} must be a safe non-negative integer`)
  }
  return value
}

/**
 * PROTOCOL.md step 1: `floor(up * 10000 / total)` basis points (0 when `total = 0`) into buckets 0..4.
 * `up > total` is `INVALID_METRICS`: an epoch cannot have more good observations than observations.
 */
export function uptimeBucket(up: number, total: number): number {
  const u = checkCount(up, 'uptime_up')
  const t = checkCount(total, 'uptime_total')
  if (u > t) throw new InvalidMetricsError('uptime_up above uptime_total')
  if (t === 0) return 0
  // up * 10000 may pass 2^53, so the quotient is taken in bigint.
  const bp = Number((BigInt(u) * 10_000n) / BigInt(t))
  for (const [floor, bucket] of BUCKET_FLOORS) if (bp >= floor) return bucket
  return 0
}

/** Checks one node's metrics from unknown input (JSON); any defect is `INVALID_METRICS`. */
function validateNode(input: unknown, index: number): NodeRewardMetrics {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new InvalidMetricsError(`node ${index} must be an object`)
  }
  const n = input as Record<string, unknown>
  const id = n.node_id
  // Lone surrogates have no UTF-8 form, so they could not be ordered or compared by bytes.
  if (typeof id !== 'string' || id.length === 0 || LONE_SURROGATE_RE.test(id)) {
    throw new InvalidMetricsError(`node ${index}: node_id must be a non-empty well-formed string`)
  }
  const bytes = n.bytes_stored
  if (typeof bytes === 'bigint') {
    if (bytes < 0n) throw new InvalidMetricsError(`node ${id}: bytes_stored must be non-negative`)
  } else checkCount(bytes, `node ${id}: bytes_stored`)
  const up = checkCount(n.uptime_up, `node ${id}: uptime_up`)
  const total = checkCount(n.uptime_total, `node ${id}: uptime_total`)
  const challenged = checkCount(n.proofs_challenged, `node ${id}: proofs_challenged`)
  const passed = checkCount(n.proofs_passed, `node ${id}: proofs_passed`)
  if (up > total) throw new InvalidMetricsError(`node ${id}: uptime_up above uptime_total`)
  if (passed > challenged) throw new InvalidMetricsError(`node ${id}: proofs_passed above proofs_challenged`)
  return {
    node_id: id,
    bytes_stored: bytes as number | bigint,
    uptime_up: up,
    uptime_total: total,
    proofs_challenged: challenged,
    proofs_passed: passed,
  }
}

/** Steps 3-4: `weight = mul(mul(bytes_stored, multiplier), proof_ratio)`, ratio 0 without challenges. */
function nodeWeight(node: NodeRewardMetrics, bucket: number): BigNum128 {
  if (node.proofs_challenged === 0) return BigNum128.ZERO
  const ratio = BigNum128.fromInteger(node.proofs_passed).div(BigNum128.fromInteger(node.proofs_challenged))
  return BigNum128.fromInteger(node.bytes_stored).mul(MULTIPLIERS[bucket]!).mul(ratio)
}

/**
 * PROTOCOL.md "NOD rewards for one epoch". Total on unknown input, and failures follow the page's
 * order: every node's metrics are checked first (`INVALID_METRICS`, in input order), then the pool
 * (given as a BigNum128 or its text: `INVALID_NUMBER`/`OVERFLOW`), then duplicate ids
 * (`DUPLICATE_NODE`), then the arithmetic (`OVERFLOW` if the weights' sum leaves the range).
 * Shares are floored, so `sum(rewards) + carry == pool` holds exactly and `carry >= 0`.
 */
export function computeNodRewards(
  pool: BigNum128 | string,
  nodes: readonly NodeRewardMetrics[],
): NodRewardResult {
  if (!Array.isArray(nodes)) throw new InvalidMetricsError('nodes must be an array')
  const checked = (nodes as readonly unknown[]).map(validateNode)
  const total = BigNum128.from(pool)
  const sorted = checked.sort((a, b) => compareUtf8(a.node_id, b.node_id))
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.node_id === sorted[i - 1]!.node_id) {
      throw new DuplicateNodeError(`node ${sorted[i]!.node_id} is listed twice`)
    }
  }

  const buckets = sorted.map((n) => uptimeBucket(n.uptime_up, n.uptime_total))
  const weights = sorted.map((n, i) => nodeWeight(n, buckets[i]!))
  let sum = BigNum128.ZERO
  let active = 0
  for (const w of weights) {
    sum = sum.add(w)
    if (!w.isZero()) active++
  }

  const paying = !sum.isZero() && active >= NOD_MIN_ACTIVE_NODES
  const cap = total.mul(MAX_NODE_REWARD_SHARE)
  // Step 5: floor(pool.raw * weight.raw / W.raw) in one exact rounding; step 6: the 30% cap.
  const rewards = weights.map((w) => (paying ? BigNum128.mulDiv(total, w, sum).min(cap) : BigNum128.ZERO))
  let paid = BigNum128.ZERO
  for (const r of rewards) paid = paid.add(r)

  const ids = sorted.map((n) => n.node_id)
  // fromEntries defines own properties, so an id such as "__proto__" is a key like any other.
  const keyed = <T>(values: readonly T[]): Record<string, T> =>
    Object.fromEntries(ids.map((id, i) => [id, values[i]!]))
  return {
    node_ids: ids,
    weights: keyed(weights),
    rewards: keyed(rewards),
    carry: total.sub(paid),
    uptime_buckets: keyed(buckets),
  }
}

/**
 * An epoch's NOD pool: `min(mul(allocationFraction, atrCollected), maxIssuance)`, by default
 * 10% of the collected ATR fees, at most 1 000 000. Amounts may be given as text (`INVALID_NUMBER`).
 */
export function nodPool(
  atrCollected: BigNum128,
  allocationFraction: BigNum128 = NOD_ALLOCATION_FRACTION,
  maxIssuance: BigNum128 = NOD_MAX_ISSUANCE_PER_EPOCH,
): BigNum128 {
  const atr = BigNum128.from(atrCollected)
  const fraction = BigNum128.from(allocationFraction)
  const max = BigNum128.from(maxIssuance)
  return fraction.mul(atr).min(max)
}
