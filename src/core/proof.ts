import { equalBytes, isId, parseId, toHex } from './bytes.js'
import { InvalidInputError } from './errors.js'
import { validateVersion } from './ids.js'
import { leafHash, type MerkleTree, verifyInclusion } from './merkle.js'

/**
 * The answer to a storage challenge (PROTOCOL.md "Merkle proofs of storage"): the block itself, its
 * index, the leaf count, the RFC 9162 audit path and the shard root. JSON-able, so a third party
 * checks it with the core alone against the shard root it holds from the object's record.
 */
export interface StorageProof {
  object_id: string
  version: number
  shard_id: string
  leaf_index: number
  leaf_count: number
  /** The challenged block, standard base64 with padding. */
  block: string
  leaf_hash: string
  audit_path: string[]
  merkle_root: string
}

export interface StorageProofArgs {
  objectId: string
  version: number
  shardId: string
  tree: MerkleTree
  leafIndex: number
  block: Uint8Array
}

/**
 * What the verifier already knows; `merkleRoot` comes from the record, never from the proof. Pass
 * `leafCount` from the record too: RFC 9162 trusts the tree size, and some wrong sizes give the same
 * path computation (leaf 0 of 3 and of 4 leaves), so only the record's size pins it.
 */
export interface ProofExpectation {
  merkleRoot: string
  shardId?: string
  leafIndex?: number
  leafCount?: number
  objectId?: string
  version?: number
}

export type ProofVerdict = { ok: true } | { ok: false; reason: string }

/** The keys of a StorageProof, exactly (the wire and the verifier accept nothing else). */
export const PROOF_KEYS = [
  'object_id',
  'version',
  'shard_id',
  'leaf_index',
  'leaf_count',
  'block',
  'leaf_hash',
  'audit_path',
  'merkle_root',
] as const
// A tree of at most 2^32 - 1 leaves has depth 32.
const MAX_PATH = 32

/** Builds the proof for one leaf; `INVALID_INPUT` when the block is not the tree's leaf at that index. */
export function buildStorageProof(args: StorageProofArgs): StorageProof {
  return storageProofOf({
    objectId: args.objectId,
    version: args.version,
    shardId: args.shardId,
    leafIndex: args.leafIndex,
    leafCount: args.tree.leafCount,
    block: args.block,
    leafHash: args.tree.leaf(args.leafIndex),
    auditPath: args.tree.auditPath(args.leafIndex),
    merkleRoot: args.tree.root,
  })
}

/** What a holder has for one block's proof: the block, its stored leaf hash and audit path, the root. */
export interface ProofParts {
  objectId: string
  version: number
  shardId: string
  leafIndex: number
  leafCount: number
  block: Uint8Array
  /** The leaf the shard's tree holds at `leafIndex`; the block must hash to it. */
  leafHash: Uint8Array
  auditPath: readonly Uint8Array[]
  merkleRoot: Uint8Array
}

/** The proof from parts a holder already has (its stored leaf hash and audit path), without a tree. */
export function storageProofOf(args: ProofParts): StorageProof {
  parseId(args.objectId, 'object_id')
  const version = validateVersion(args.version)
  parseId(args.shardId, 'shard_id')
  if (!(args.block instanceof Uint8Array)) throw new InvalidInputError('block must be a Uint8Array')
  const leaf = leafHash(args.block)
  if (!equalBytes(leaf, args.leafHash)) {
    throw new InvalidInputError(`block is not leaf ${args.leafIndex} of the shard's tree`)
  }
  return {
    object_id: args.objectId,
    version,
    shard_id: args.shardId,
    leaf_index: args.leafIndex,
    leaf_count: args.leafCount,
    block: Buffer.from(args.block.buffer, args.block.byteOffset, args.block.byteLength).toString('base64'),
    leaf_hash: toHex(leaf),
    audit_path: args.auditPath.map(toHex),
    merkle_root: toHex(args.merkleRoot),
  }
}

/**
 * Checks a proof from anywhere (the wire, a file, an auditor). Total: malformed input gives
 * `ok: false` with a reason, never an exception. Inclusion is verified against the EXPECTED root, so
 * a prover cannot pass by sending a tree of its own making.
 */
export function verifyStorageProof(proof: unknown, expected: ProofExpectation): ProofVerdict {
  try {
    return check(proof, expected)
  } catch {
    return { ok: false, reason: 'malformed proof' }
  }
}

function check(proof: unknown, expected: ProofExpectation): ProofVerdict {
  if (expected === null || typeof expected !== 'object' || !isId(expected.merkleRoot)) {
    return fail('expected merkle root must be 64 lower-case hex characters')
  }
  if (proof === null || typeof proof !== 'object' || Array.isArray(proof))
    return fail('proof must be an object')
  const p = proof as Record<string, unknown>
  const keys = Object.keys(p)
  if (keys.length !== PROOF_KEYS.length || !PROOF_KEYS.every((k) => Object.hasOwn(p, k))) {
    return fail(`proof must have exactly ${PROOF_KEYS.join(', ')}`)
  }
  if (!isId(p.object_id)) return fail('object_id is not an id')
  if (!isSafeCount(p.version) || p.version < 1) return fail('version must be an integer >= 1')
  if (!isId(p.shard_id)) return fail('shard_id is not an id')
  if (!isSafeCount(p.leaf_index)) return fail('leaf_index must be a non-negative integer')
  if (!isSafeCount(p.leaf_count) || p.leaf_count < 1) return fail('leaf_count must be a positive integer')
  if (p.leaf_index >= p.leaf_count) return fail('leaf_index outside the tree')
  if (!isId(p.leaf_hash)) return fail('leaf_hash is not a hash')
  if (!isId(p.merkle_root)) return fail('merkle_root is not a hash')
  if (!Array.isArray(p.audit_path) || p.audit_path.length > MAX_PATH || !p.audit_path.every(isId)) {
    return fail('audit_path must be a list of at most 32 hashes')
  }
  const block = decodeBase64(p.block)
  if (block === null) return fail('block is not canonical base64')
  if (block.length === 0) return fail('block is empty')

  if (expected.objectId !== undefined && p.object_id !== expected.objectId) return fail('object_id mismatch')
  if (expected.version !== undefined && p.version !== expected.version) return fail('version mismatch')
  if (expected.shardId !== undefined && p.shard_id !== expected.shardId) return fail('shard_id mismatch')
  if (expected.leafIndex !== undefined && p.leaf_index !== expected.leafIndex)
    return fail('leaf_index mismatch')
  if (expected.leafCount !== undefined && p.leaf_count !== expected.leafCount)
    return fail('leaf_count mismatch')
  if (p.merkle_root !== expected.merkleRoot) return fail('merkle_root differs from the expected root')

  const leaf = leafHash(block)
  if (toHex(leaf) !== p.leaf_hash) return fail('leaf_hash is not the hash of block')
  const path = p.audit_path.map((h) => parseId(h))
  if (!verifyInclusion(leaf, p.leaf_index, p.leaf_count, path, parseId(expected.merkleRoot))) {
    return fail('audit path does not lead to the expected root')
  }
  return { ok: true }
}

function fail(reason: string): ProofVerdict {
  return { ok: false, reason }
}

function isSafeCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/** Standard base64 with padding, in its one canonical spelling (unused bits zero). */
function decodeBase64(text: unknown): Uint8Array | null {
  // Decoding skips characters outside the alphabet, so only the canonical spelling re-encodes to itself.
  if (typeof text !== 'string' || text.length % 4 !== 0) return null
  const buf = Buffer.from(text, 'base64')
  if (buf.toString('base64') !== text) return null
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
}
