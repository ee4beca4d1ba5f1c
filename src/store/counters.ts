import { compareBytes } from '../core/bytes.js'
import type { StoreBatchOp, StoreSublevels } from './db.js'
import { IntegrityMismatchError } from './errors.js'
import { decodeManifest } from './manifest.js'

/** Totals of what the store holds; `staged` counts staged shards not (yet) committed. */
export interface StoreStats {
  objects: number
  versions: number
  shards: number
  bytes_stored: number
  staged: number
}

/** The persisted counters: the stats plus the last staging sequence number handed out. */
export interface Counters extends StoreStats {
  staging_seq: number
  /** Declared bytes of the staged shards (`staged`), streaming or waiting for their commit. */
  staged_bytes: number
}

const COUNTERS_KEY = 'counters'
const FIELDS = [
  'objects',
  'versions',
  'shards',
  'bytes_stored',
  'staged',
  'staging_seq',
  'staged_bytes',
] as const
/** Added after the first release; absent in older databases, whose open() resets it with `staged`. */
const OPTIONAL = new Set<string>(['staged_bytes'])

export const ZERO_COUNTERS: Readonly<Counters> = Object.freeze({
  objects: 0,
  versions: 0,
  shards: 0,
  bytes_stored: 0,
  staged: 0,
  staging_seq: 0,
  staged_bytes: 0,
})

/**
 * Counters are read and rewritten whole, always in the same batch as the change they count, and
 * only under the node's single-writer lock: one key, so no two writers ever interleave on it.
 */
export async function readCounters(subs: StoreSublevels): Promise<Counters> {
  const value = await subs.meta.get(COUNTERS_KEY)
  if (value === undefined) return { ...ZERO_COUNTERS }
  if (value === null || typeof value !== 'object')
    throw new IntegrityMismatchError('stored counters unreadable')
  const v = value as Record<string, unknown>
  const out = { ...ZERO_COUNTERS }
  for (const f of FIELDS) {
    const n = v[f]
    if (n === undefined && OPTIONAL.has(f)) continue
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      throw new IntegrityMismatchError(`stored counter ${f} unreadable`)
    }
    out[f] = n
  }
  return out
}

export function countersOp(subs: StoreSublevels, c: Counters): StoreBatchOp {
  const value: Record<string, number> = {}
  for (const f of FIELDS) value[f] = c[f]
  return { type: 'put', sublevel: subs.meta, key: COUNTERS_KEY, value }
}

/** Counts everything by scanning (the counters' oracle; also what replay compares against). */
export async function scanStats(subs: StoreSublevels): Promise<StoreStats> {
  let objects = 0
  let versions = 0
  let previous: Uint8Array | undefined
  for await (const key of subs.index.keys()) {
    const object = key.subarray(0, 32)
    if (previous === undefined || compareBytes(previous, object) !== 0) objects++
    previous = object.slice()
    versions++
  }
  let shards = 0
  let bytes = 0
  for await (const value of subs.manifests.values()) {
    shards++
    bytes += decodeManifest(value).length
  }
  let staged = 0
  for await (const _ of subs.staging.keys()) staged++
  return { objects, versions, shards, bytes_stored: bytes, staged }
}
