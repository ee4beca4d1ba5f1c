import { equalBytes, u32 } from './bytes.js'
import { InvalidInputError } from './errors.js'
import { createSha3, sha3 } from './hash.js'

/**
 * Merkle trees of RFC 6962 / RFC 9162 shape over SHA3-256. The RFC's recursive definition (split at
 * the largest power of two below n) equals the bottom-up build that pairs neighbours level by level
 * and carries an odd last node up unchanged; the bottom-up form is what lets a tree keep every level
 * and answer an audit path in O(log n).
 */

const LEAF_PREFIX = new Uint8Array([0x00])
const NODE_PREFIX = new Uint8Array([0x01])
const MAX_LEAVES = 0xffffffff

/** The root of a tree without leaves: `H("")`. */
export const EMPTY_ROOT: Uint8Array = sha3(new Uint8Array(0))

export function leafHash(block: Uint8Array): Uint8Array {
  return createSha3().update(LEAF_PREFIX).update(block).digest()
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha3(NODE_PREFIX, left, right)
}

export class MerkleTree {
  /** levels[0] are the leaf hashes, the last level holds the root alone. */
  private readonly levels: readonly (readonly Uint8Array[])[]

  private constructor(levels: Uint8Array[][]) {
    this.levels = levels
  }

  static fromLeafHashes(leaves: readonly Uint8Array[]): MerkleTree {
    if (leaves.length > MAX_LEAVES) throw new InvalidInputError('too many leaves')
    for (const l of leaves) {
      if (l.length !== 32) throw new InvalidInputError('a leaf hash is 32 bytes')
    }
    const levels: Uint8Array[][] = [leaves.slice()]
    let level = levels[0]!
    while (level.length > 1) {
      const next: Uint8Array[] = []
      for (let i = 0; i + 1 < level.length; i += 2) next.push(nodeHash(level[i]!, level[i + 1]!))
      if (level.length % 2 === 1) next.push(level[level.length - 1]!)
      levels.push(next)
      level = next
    }
    return new MerkleTree(levels)
  }

  static fromBlocks(blocks: Iterable<Uint8Array>): MerkleTree {
    const leaves: Uint8Array[] = []
    for (const b of blocks) leaves.push(leafHash(b))
    return MerkleTree.fromLeafHashes(leaves)
  }

  get leafCount(): number {
    return this.levels[0]!.length
  }

  get root(): Uint8Array {
    if (this.leafCount === 0) return EMPTY_ROOT
    return this.levels[this.levels.length - 1]![0]!
  }

  leaf(index: number): Uint8Array {
    checkIndex(index, this.leafCount)
    return this.levels[0]![index]!
  }

  leafHashes(): readonly Uint8Array[] {
    return this.levels[0]!
  }

  /** The RFC 9162 audit path of a leaf, ordered from the leaf's sibling up to the root's child. */
  auditPath(index: number): Uint8Array[] {
    checkIndex(index, this.leafCount)
    const path: Uint8Array[] = []
    let i = index
    for (let k = 0; k + 1 < this.levels.length; k++) {
      const level = this.levels[k]!
      const sibling = i ^ 1
      if (sibling < level.length) path.push(level[sibling]!)
      i = i >>> 1
    }
    return path
  }
}

export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  return MerkleTree.fromLeafHashes(leaves).root
}

/**
 * RFC 9162 §2.1.3.2: verify that `leaf` sits at `index` of a tree of `leafCount` leaves with `root`.
 * Total: any malformed argument yields false, never an exception.
 */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  leafCount: number,
  path: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!Number.isInteger(index) || !Number.isInteger(leafCount)) return false
  if (index < 0 || leafCount < 1 || leafCount > MAX_LEAVES || index >= leafCount) return false
  if (leaf.length !== 32 || root.length !== 32) return false
  let fn = index
  let sn = leafCount - 1
  let r = leaf
  for (const p of path) {
    if (p.length !== 32 || sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      while (fn % 2 === 0 && fn !== 0) {
        fn = fn >>> 1
        sn = sn >>> 1
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = fn >>> 1
    sn = sn >>> 1
  }
  return sn === 0 && equalBytes(r, root)
}

function checkIndex(index: number, leafCount: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= leafCount) {
    throw new InvalidInputError(`leaf index ${index} outside 0..${leafCount - 1}`)
  }
}

/** Serialized leaf hashes (`u32(n) || leaf*`), the form a shard manifest keeps. */
export function encodeLeafHashes(leaves: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(4 + 32 * leaves.length)
  out.set(u32(leaves.length), 0)
  for (let i = 0; i < leaves.length; i++) out.set(leaves[i]!, 4 + 32 * i)
  return out
}

export function decodeLeafHashes(bytes: Uint8Array): Uint8Array[] {
  if (bytes.length < 4) throw new InvalidInputError('leaf list too short')
  const n = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0)
  if (bytes.length !== 4 + 32 * n) throw new InvalidInputError('leaf list length mismatch')
  const out: Uint8Array[] = []
  for (let i = 0; i < n; i++) out.push(bytes.subarray(4 + 32 * i, 36 + 32 * i))
  return out
}
