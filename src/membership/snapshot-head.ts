import { isId } from '../core/bytes.js'
import { canonicalBytes } from '../core/canonical.js'
import { InvalidInputError } from '../core/errors.js'
import { sha3Hex } from '../core/hash.js'
import type { EpochSnapshot, SnapshotBody } from './snapshot.js'

export const SNAPSHOT_HEAD_SCHEMA = 'qfs-snapshot-head/1'

const HEAD_KEYS = [
  'schema',
  'epoch',
  'start_tick',
  'snapshot_hash',
  'node_count',
  'node_set_digest',
  'params',
] as const
const PARAM_KEYS = ['block_size_bytes', 'num_shards_per_object', 'replication_factor', 'schema_version']

/**
 * The last snapshot a node adopted, as much of it as a restart must compare against: a node's epochs
 * only go forward, and its eligible set does not change (docs/operations.md "Snapshots"). Kept in
 * the data directory, because the snapshot file itself is whatever an operator last wrote there.
 */
export interface SnapshotHead {
  schema: typeof SNAPSHOT_HEAD_SCHEMA
  epoch: number
  start_tick: number
  snapshot_hash: string
  node_count: number
  /** `hex(SHA3-256(JCS(node ids in snapshot order)))`: the eligible set, whatever the addresses and keys. */
  node_set_digest: string
  /** The parameters the node ran with, snake_case (a restart may change them; it logs that it did). */
  params: SnapshotBody['params']
}

/** Why a snapshot may not follow the saved head. */
export type HeadVerdict =
  | { ok: true; same: boolean }
  | { ok: false; reason: 'BROKEN_CHAIN' | 'NODE_SET_CHANGED'; detail: string }

/** The digest of an eligible set; snapshots list their nodes sorted, so equal sets give equal digests. */
export function nodeSetDigest(snapshot: Pick<EpochSnapshot, 'nodes'>): string {
  return sha3Hex(canonicalBytes(snapshot.nodes.map((n) => n.node_id)))
}

export function headOf(snapshot: EpochSnapshot): SnapshotHead {
  return {
    schema: SNAPSHOT_HEAD_SCHEMA,
    epoch: snapshot.epoch,
    start_tick: snapshot.start_tick,
    snapshot_hash: snapshot.snapshot_hash,
    node_count: snapshot.nodes.length,
    node_set_digest: nodeSetDigest(snapshot),
    params: { ...snapshot.params },
  }
}

/**
 * Whether a verified snapshot may be adopted by a node whose last adopted snapshot was `head`: the
 * same one, or a later epoch (the direct successor of `head` when it is the next one) with the
 * same eligible set. Without the snapshots in between, a later epoch is taken as a new anchor.
 */
export function judgeAgainstHead(snapshot: EpochSnapshot, head: SnapshotHead): HeadVerdict {
  const adopted = `epoch ${head.epoch} (snapshot_hash ${head.snapshot_hash.slice(0, 16)}…)`
  if (snapshot.epoch < head.epoch) {
    return {
      ok: false,
      reason: 'BROKEN_CHAIN',
      detail: `epoch ${snapshot.epoch} is older than ${adopted}, which this node adopted before: its epochs never go back`,
    }
  }
  if (snapshot.epoch === head.epoch) {
    if (snapshot.snapshot_hash === head.snapshot_hash) return { ok: true, same: true }
    return {
      ok: false,
      reason: 'BROKEN_CHAIN',
      detail: `this node adopted ${adopted} before; this is another snapshot of the same epoch`,
    }
  }
  if (snapshot.epoch === head.epoch + 1 && snapshot.prev_snapshot_hash !== head.snapshot_hash) {
    return {
      ok: false,
      reason: 'BROKEN_CHAIN',
      detail: `prev_snapshot_hash is not the hash of ${adopted}, which this node adopted before`,
    }
  }
  if (snapshot.start_tick <= head.start_tick) {
    return {
      ok: false,
      reason: 'BROKEN_CHAIN',
      detail: `start_tick ${snapshot.start_tick} is not after ${head.start_tick}, the start of ${adopted}`,
    }
  }
  if (nodeSetDigest(snapshot) !== head.node_set_digest) {
    return {
      ok: false,
      reason: 'NODE_SET_CHANGED',
      detail: `it lists ${snapshot.nodes.length} nodes, not the ${head.node_count} eligible in ${adopted}, which this node adopted before`,
    }
  }
  return { ok: true, same: false }
}

/** A saved head, checked field by field (`INVALID_INPUT` naming the field otherwise). */
export function parseSnapshotHead(value: unknown): SnapshotHead {
  const o = plain(value, 'head')
  for (const k of Object.keys(o)) {
    if (!(HEAD_KEYS as readonly string[]).includes(k)) throw new InvalidInputError(`unknown field ${k}`)
  }
  if (o.schema !== SNAPSHOT_HEAD_SCHEMA) throw new InvalidInputError(`schema must be ${SNAPSHOT_HEAD_SCHEMA}`)
  if (!isId(o.snapshot_hash))
    throw new InvalidInputError('snapshot_hash must be 64 lower-case hex characters')
  if (!isId(o.node_set_digest))
    throw new InvalidInputError('node_set_digest must be 64 lower-case hex characters')
  const p = plain(o.params, 'params')
  if (Object.keys(p).length !== PARAM_KEYS.length)
    throw new InvalidInputError('params must hold the four parameters')
  const params = Object.fromEntries(PARAM_KEYS.map((k) => [k, count(p[k], `params.${k}`)]))
  return {
    schema: SNAPSHOT_HEAD_SCHEMA,
    epoch: count(o.epoch, 'epoch'),
    start_tick: count(o.start_tick, 'start_tick'),
    snapshot_hash: o.snapshot_hash,
    node_count: count(o.node_count, 'node_count'),
    node_set_digest: o.node_set_digest,
    params: params as SnapshotBody['params'],
  }
}

function plain(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidInputError(`${what} must be an object`)
  }
  return value as Record<string, unknown>
}

function count(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidInputError(`${what} must be a safe non-negative integer`)
  }
  return value
}
