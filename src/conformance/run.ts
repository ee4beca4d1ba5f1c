import { atrCost } from '../core/atr.js'
import { BigNum128 } from '../core/bignum.js'
import { toHex } from '../core/bytes.js'
import { canonicalJson } from '../core/canonical.js'
import { challengeIndex, challengeSeed } from '../core/challenge.js'
import { hashCommit } from '../core/commit.js'
import { InvalidInputError, QfsError } from '../core/errors.js'
import { objectId, shardId } from '../core/ids.js'
import { leafHash, MerkleTree } from '../core/merkle.js'
import { metadataSeed, normalizeMetadata } from '../core/metadata.js'
import { DEFAULT_PARAMS } from '../core/params.js'
import { placeShard, sortEligible } from '../core/placement.js'
import { computeNodRewards } from '../core/rewards.js'
import { blockRanges, computeShardLayout } from '../core/shards.js'
import { generateContent } from './content.js'

/** One case of a `qfs-conformance-vectors/1` file. */
export interface VectorCase {
  id: string
  kind: string
  input: Record<string, unknown>
  expected?: Record<string, unknown>
  error?: string
}

export type CaseOutcome = { id: string; result: Record<string, unknown> } | { id: string; error: string }

export interface CaseReport {
  id: string
  kind: string
  pass: boolean
  outcome: CaseOutcome
  /** What the case expected: `{result}` or `{error}`. */
  wanted: { result: Record<string, unknown> } | { error: string }
}

export const VECTOR_FORMAT = 'qfs-conformance-vectors/1'

type Compute = (input: Record<string, unknown>) => Record<string, unknown>

/** Each kind computes its `expected` shape from `input` alone (PROTOCOL.md, "Vector file format"). */
const KINDS: Readonly<Record<string, Compute>> = {
  object_id: (i) => ({ object_id: objectId(str(i.namespace, 'namespace'), str(i.client_id, 'client_id')) }),
  metadata_seed: (i) => {
    const normalized = normalizeMetadata(i.metadata)
    return { normalized, metadata_seed: toHex(metadataSeed(normalized)) }
  },
  hash_commit: (i) => {
    const content = generateContent(i.content)
    const seed = metadataSeed(normalizeMetadata(i.metadata))
    return {
      metadata_seed: toHex(seed),
      hash_commit: toHex(hashCommit(content, int(i.schema_version, 'schema_version'), seed)),
    }
  },
  shard_id: (i) => ({
    shard_id: shardId(
      str(i.object_id, 'object_id'),
      int(i.version, 'version'),
      int(i.shard_index, 'shard_index'),
    ),
  }),
  shards: (i) => ({
    shards: computeShardLayout(generateContent(i.content), DEFAULT_PARAMS).map((s) => ({
      length: s.length,
      block_count: s.blockCount,
      merkle_root: toHex(s.merkleRoot),
    })),
  }),
  merkle_proof: (i) => {
    const content = generateContent(i.shard_content)
    const tree = MerkleTree.fromLeafHashes(
      blockRanges(content.length, DEFAULT_PARAMS.blockSizeBytes).map((r) =>
        leafHash(content.subarray(r.start, r.end)),
      ),
    )
    const index = int(i.leaf_index, 'leaf_index')
    return {
      leaf_count: tree.leafCount,
      merkle_root: toHex(tree.root),
      leaf_hash: toHex(tree.leaf(index)),
      audit_path: tree.auditPath(index).map(toHex),
    }
  },
  placement: (i) => {
    const nodes = strList(i.eligible_nodes, 'eligible_nodes')
    const placement = placeShard(
      str(i.shard_id, 'shard_id'),
      nodes,
      int(i.replication_factor, 'replication_factor'),
    )
    return {
      eligible_sorted: sortEligible(nodes),
      start_index: placement.startIndex,
      selected: placement.selected,
    }
  },
  challenge: (i) => {
    const seed = challengeSeed(int(i.epoch, 'epoch'), str(i.snapshot_hash, 'snapshot_hash'))
    return {
      challenge_seed: toHex(seed),
      challenge_index: challengeIndex(seed, str(i.shard_id, 'shard_id'), int(i.leaf_count, 'leaf_count')),
    }
  },
  atr_cost: (i) => ({
    atr_cost: atrCost(
      int(i.content_size, 'content_size'),
      int(i.num_shards, 'num_shards'),
      int(i.replication_factor, 'replication_factor'),
    ).toString(),
  }),
  bignum: (i) => {
    const a = BigNum128.parse(i.a)
    const b = BigNum128.parse(i.b)
    const ops: Record<string, () => BigNum128> = {
      add: () => a.add(b),
      sub: () => a.sub(b),
      mul: () => a.mul(b),
      div: () => a.div(b),
    }
    const name = str(i.op, 'op')
    // Own keys only: "toString" or "constructor" are not operations (Object.prototype has them).
    const op = Object.hasOwn(ops, name) ? ops[name] : undefined
    if (op === undefined) throw new InvalidInputError(`unknown bignum op ${String(i.op)}`)
    return { result: op().toString() }
  },
  nod_rewards: (i) => {
    // The pool text goes in raw: the formula reports bad metrics before a bad pool (PROTOCOL.md order).
    const out = computeNodRewards(i.pool as string, i.nodes as never)
    return { weights: asStrings(out.weights), rewards: asStrings(out.rewards), carry: out.carry.toString() }
  },
}

export function computeCase(c: VectorCase): CaseOutcome {
  try {
    const compute = KINDS[c.kind]
    if (compute === undefined) throw new InvalidInputError(`unknown kind ${c.kind}`)
    return { id: c.id, result: compute(c.input) }
  } catch (err) {
    // Only protocol errors are answers; anything else is a bug and must surface.
    if (err instanceof QfsError) return { id: c.id, error: err.code }
    throw err
  }
}

/** Parses and checks a vector file's outer shape; `INVALID_INPUT` when it is not one. */
export function parseVectorFile(json: unknown): VectorCase[] {
  if (json === null || typeof json !== 'object')
    throw new InvalidInputError('vector file must be a JSON object')
  const file = json as Record<string, unknown>
  if (file.format !== VECTOR_FORMAT)
    throw new InvalidInputError(`vector file format must be ${VECTOR_FORMAT}`)
  if (!Array.isArray(file.cases)) throw new InvalidInputError('vector file needs a cases array')
  return file.cases.map((raw, n) => {
    const c = raw as Record<string, unknown>
    const ok =
      c !== null &&
      typeof c === 'object' &&
      typeof c.id === 'string' &&
      typeof c.kind === 'string' &&
      c.input !== null &&
      typeof c.input === 'object' &&
      ((c.expected !== null && typeof c.expected === 'object' && c.error === undefined) ||
        (typeof c.error === 'string' && c.expected === undefined))
    if (!ok) throw new InvalidInputError(`case #${n} is not {id, kind, input, expected|error}`)
    return c as unknown as VectorCase
  })
}

export function checkCase(c: VectorCase): CaseReport {
  const outcome = computeCase(c)
  const wanted = c.error !== undefined ? { error: c.error } : { result: c.expected ?? {} }
  const pass =
    'error' in wanted
      ? 'error' in outcome && outcome.error === wanted.error
      : 'result' in outcome && canonicalJson(outcome.result) === canonicalJson(wanted.result)
  return { id: c.id, kind: c.kind, pass, outcome, wanted }
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new InvalidInputError(`${what} must be a string`)
  return v
}

function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v))
    throw new InvalidInputError(`${what} must be an integer`)
  return v
}

function strList(v: unknown, what: string): string[] {
  if (!Array.isArray(v)) throw new InvalidInputError(`${what} must be an array of strings`)
  return v.map((x) => str(x, what))
}

function asStrings(m: Record<string, BigNum128>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(m)) out[k] = v.toString()
  return out
}
