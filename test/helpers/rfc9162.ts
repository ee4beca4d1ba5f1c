import { sha3_256 } from '@noble/hashes/sha3.js'

/**
 * RFC 9162 §2.1 written as the RFC states it (recursive, split at the largest power of two below n)
 * on @noble/hashes: the oracle for src/core/merkle.ts, which builds bottom-up on node:crypto.
 */
function split(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

export function oracleLeafHash(block: Uint8Array): Uint8Array {
  return sha3_256.create().update(Uint8Array.of(0)).update(block).digest()
}

function oracleNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha3_256.create().update(Uint8Array.of(1)).update(left).update(right).digest()
}

/** MTH(D[n]) over leaf hashes. */
export function oracleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha3_256(new Uint8Array(0))
  if (leaves.length === 1) return leaves[0]!
  const k = split(leaves.length)
  return oracleNode(oracleRoot(leaves.slice(0, k)), oracleRoot(leaves.slice(k)))
}

/** PATH(m, D[n]), leaf sibling first. */
export function oraclePath(m: number, leaves: readonly Uint8Array[]): Uint8Array[] {
  if (leaves.length <= 1) return []
  const k = split(leaves.length)
  if (m < k) return [...oraclePath(m, leaves.slice(0, k)), oracleRoot(leaves.slice(k))]
  return [...oraclePath(m - k, leaves.slice(k)), oracleRoot(leaves.slice(0, k))]
}

/** The left/right pattern of leaf m's path in a tree of n leaves (true: sibling on the left). */
export function pathShape(m: number, n: number): boolean[] {
  if (n <= 1) return []
  const k = split(n)
  return m < k ? [...pathShape(m, k), false] : [...pathShape(m - k, n - k), true]
}
