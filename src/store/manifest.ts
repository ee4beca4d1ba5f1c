import { concatBytes, isId, lp, utf8 } from '../core/bytes.js'
import { decodeLeafHashes, encodeLeafHashes } from '../core/merkle.js'
import { isStagingId } from './db.js'
import { IntegrityMismatchError } from './errors.js'

/**
 * What a holder keeps for each committed shard. The leaf hashes ride along so that a proof needs one
 * block read and no re-hashing of the shard; `stagingId` is the key prefix of the shard's blocks.
 */
export interface ShardManifest {
  objectId: string
  version: number
  shardIndex: number
  shardId: string
  length: number
  leafCount: number
  merkleRoot: string
  hashCommit: string
  blockSizeBytes: number
  stagingId: string
  leafHashes: Uint8Array[]
}

/**
 * A pending marker: its presence means the blocks under `stagingId` are not (yet) part of any
 * manifest. `seq` is a local counter and `createdMs` local wall-clock time; neither reaches a log.
 */
export interface StagingMarker {
  stagingId: string
  seq: number
  createdMs: number
  state: 'writing' | 'staged'
  objectId: string
  version: number
  shardIndex: number
  shardId: string
  length: number
  blockSizeBytes: number
  /** Set once the writer finished (state `staged`). */
  merkleRoot: string | null
  leafHashes: Uint8Array[]
}

// Both values are `lp(utf8(JSON of the scalar fields)) || u32(n) || n leaf hashes`.
function encode(header: Record<string, unknown>, leaves: readonly Uint8Array[]): Uint8Array {
  return concatBytes([lp(utf8(JSON.stringify(header))), encodeLeafHashes(leaves)])
}

function decode(bytes: Uint8Array, what: string): { header: Record<string, unknown>; leaves: Uint8Array[] } {
  try {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const n = view.getUint32(0)
    const header: unknown = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(4, 4 + n)),
    )
    if (header === null || typeof header !== 'object' || Array.isArray(header))
      throw new Error('not an object')
    // Copies, so the returned hashes do not pin the whole value's buffer.
    const leaves = decodeLeafHashes(bytes.subarray(4 + n)).map((l) => l.slice())
    return { header: header as Record<string, unknown>, leaves }
  } catch (err) {
    throw new IntegrityMismatchError(`stored ${what} is unreadable`, { cause: err })
  }
}

export function encodeManifest(m: ShardManifest): Uint8Array {
  const { leafHashes, ...header } = m
  return encode(header, leafHashes)
}

export function decodeManifest(bytes: Uint8Array): ShardManifest {
  const { header: h, leaves } = decode(bytes, 'manifest')
  const m: ShardManifest = {
    objectId: id(h.objectId),
    version: int(h.version, 1),
    shardIndex: int(h.shardIndex, 0),
    shardId: id(h.shardId),
    length: int(h.length, 0),
    leafCount: int(h.leafCount, 0),
    merkleRoot: id(h.merkleRoot),
    hashCommit: id(h.hashCommit),
    blockSizeBytes: int(h.blockSizeBytes, 1),
    stagingId: checkStagingId(h.stagingId),
    leafHashes: leaves,
  }
  if (leaves.length !== m.leafCount) throw new IntegrityMismatchError('stored manifest leaf count mismatch')
  return m
}

export function encodeMarker(m: StagingMarker): Uint8Array {
  const { leafHashes, ...header } = m
  return encode(header, leafHashes)
}

export function decodeMarker(bytes: Uint8Array): StagingMarker {
  const { header: h, leaves } = decode(bytes, 'staging marker')
  if (h.state !== 'writing' && h.state !== 'staged')
    throw new IntegrityMismatchError('stored marker state unknown')
  return {
    stagingId: checkStagingId(h.stagingId),
    seq: int(h.seq, 0),
    createdMs: int(h.createdMs, 0),
    state: h.state,
    objectId: id(h.objectId),
    version: int(h.version, 1),
    shardIndex: int(h.shardIndex, 0),
    shardId: id(h.shardId),
    length: int(h.length, 0),
    blockSizeBytes: int(h.blockSizeBytes, 1),
    merkleRoot: h.merkleRoot === null ? null : id(h.merkleRoot),
    leafHashes: leaves,
  }
}

function id(v: unknown): string {
  if (!isId(v)) throw new IntegrityMismatchError('stored id is malformed')
  return v
}

function checkStagingId(v: unknown): string {
  if (!isStagingId(v)) throw new IntegrityMismatchError('stored staging id is malformed')
  return v
}

function int(v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new IntegrityMismatchError('stored integer is malformed')
  }
  return v
}
