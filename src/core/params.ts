import { InvalidInputError } from './errors.js'

/**
 * The governed constants of PROTOCOL.md. They are passed explicitly to every function that needs
 * them (never read from a global), so a governance change is a new parameter set, recorded in the
 * replay context, not a code change.
 */
export interface ProtocolParams {
  readonly blockSizeBytes: number
  readonly numShardsPerObject: number
  readonly replicationFactor: number
  readonly schemaVersion: number
}

export const DEFAULT_PARAMS: ProtocolParams = Object.freeze({
  blockSizeBytes: 262_144,
  numShardsPerObject: 4,
  replicationFactor: 3,
  schemaVersion: 1,
})

export const CONTENT_HASH_FUNCTION = 'SHA3-256'
export const SHARD_HASH_FUNCTION = 'SHA3-256'

/** Largest integer a JSON number carries exactly: the bound of ticks, versions and sizes. */
export const MAX_SAFE = Number.MAX_SAFE_INTEGER

// Bounds keep blocks addressable and counts small; a record's leaf counts are held below 2^32 by
// record.ts, since large content in small blocks can exceed it under these bounds.
const LIMITS = {
  blockSizeBytes: [1024, 64 * 1024 * 1024],
  numShardsPerObject: [1, 256],
  replicationFactor: [1, 64],
  schemaVersion: [0, 0xffffffff],
} as const

/** Checks a parameter set (from governance, config or a wire message); `INVALID_INPUT` if out of range. */
export function validateParams(input: unknown): ProtocolParams {
  if (input === null || typeof input !== 'object') throw new InvalidInputError('params must be an object')
  const p = input as Record<string, unknown>
  const out: Record<string, number> = {}
  for (const [key, [min, max]] of Object.entries(LIMITS)) {
    // Only an absent key takes the default: a null is a value given, and not an integer.
    const v = p[key] === undefined ? DEFAULT_PARAMS[key as keyof ProtocolParams] : p[key]
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new InvalidInputError(`${key} must be an integer in ${min}..${max}`)
    }
    out[key] = v
  }
  for (const key of Object.keys(p)) {
    if (!(key in LIMITS)) throw new InvalidInputError(`unknown protocol parameter ${key}`)
  }
  return Object.freeze(out as unknown as ProtocolParams)
}

/** Snake-case form used on the wire, in logs and in evidence. */
export function paramsToJson(p: ProtocolParams): Record<string, number> {
  return {
    block_size_bytes: p.blockSizeBytes,
    num_shards_per_object: p.numShardsPerObject,
    replication_factor: p.replicationFactor,
    schema_version: p.schemaVersion,
  }
}
