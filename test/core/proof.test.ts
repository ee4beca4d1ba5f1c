import { sha3_256 } from '@noble/hashes/sha3.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { shardId } from '../../src/core/ids.js'
import { MerkleTree } from '../../src/core/merkle.js'
import { buildStorageProof, type StorageProof, verifyStorageProof } from '../../src/core/proof.js'
import { blockRanges } from '../../src/core/shards.js'
import { errorCode } from '../helpers/core-vectors.js'
import { oracleLeafHash, oraclePath, oracleRoot, pathShape } from '../helpers/rfc9162.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const OBJECT = '5a'.repeat(32)

/** A shard of random bytes cut into small blocks, a leaf index, and the honest proof for it. */
const honest = fc
  .record({
    data: fc.uint8Array({ minLength: 1, maxLength: 1500 }),
    blockSize: fc.integer({ min: 1, max: 200 }),
    version: fc.integer({ min: 1, max: 1000 }),
    pick: fc.nat(),
  })
  .map(({ data, blockSize, version, pick }) => {
    const blocks = blockRanges(data.length, blockSize).map((r) => data.subarray(r.start, r.end))
    const tree = MerkleTree.fromBlocks(blocks)
    const leafIndex = pick % blocks.length
    const sid = shardId(OBJECT, version, pick % 4)
    const proof = buildStorageProof({
      objectId: OBJECT,
      version,
      shardId: sid,
      tree,
      leafIndex,
      block: blocks[leafIndex]!,
    })
    return { blocks, tree, leafIndex, sid, version, proof }
  })

function tamperedBlock(b64: string): string {
  const bytes = Buffer.from(b64, 'base64')
  bytes[0]! ^= 1
  return bytes.toString('base64')
}

describe('storage proofs', () => {
  it('builds the RFC 9162 path and verifies honest proofs with every expectation', () => {
    fc.assert(
      fc.property(honest, ({ blocks, tree, leafIndex, sid, version, proof }) => {
        const leaves = blocks.map(oracleLeafHash)
        expect(proof.leaf_hash).toBe(hex(leaves[leafIndex]!))
        expect(proof.audit_path).toEqual(oraclePath(leafIndex, leaves).map(hex))
        expect(proof.merkle_root).toBe(hex(oracleRoot(leaves)))
        expect(Buffer.from(proof.block, 'base64').equals(Buffer.from(blocks[leafIndex]!))).toBe(true)
        expect(JSON.parse(JSON.stringify(proof))).toEqual(proof)
        const root = hex(tree.root)
        expect(verifyStorageProof(proof, { merkleRoot: root })).toEqual({ ok: true })
        expect(
          verifyStorageProof(JSON.parse(JSON.stringify(proof)), {
            merkleRoot: root,
            shardId: sid,
            leafIndex,
            leafCount: tree.leafCount,
            objectId: OBJECT,
            version,
          }),
        ).toEqual({ ok: true })
      }),
      { seed: 1320, numRuns: 200 },
    )
  })

  it('rejects every tampered proof', () => {
    fc.assert(
      fc.property(honest, fc.nat(), ({ tree, leafIndex, sid, version, proof }, k) => {
        const root = hex(tree.root)
        const n = tree.leafCount
        const expectAll = {
          merkleRoot: root,
          shardId: sid,
          leafIndex,
          leafCount: n,
          objectId: OBJECT,
          version,
        }
        const forged = tamperedBlock(proof.block)
        const variants: Partial<StorageProof>[] = [
          { block: forged },
          // A forged block with its own leaf hash still fails inclusion.
          { block: forged, leaf_hash: hex(oracleLeafHash(Buffer.from(forged, 'base64'))) },
          { leaf_hash: 'ff'.repeat(32) },
          { merkle_root: 'ee'.repeat(32) },
          { shard_id: shardId(OBJECT, version + 1, 0) },
          { object_id: 'ab'.repeat(32) },
          { version: version + 1 },
          { leaf_count: n + 1 + (k % 5) },
          { audit_path: [...proof.audit_path, root] },
        ]
        if (n > 1) {
          variants.push({ leaf_index: (leafIndex + 1 + (k % (n - 1))) % n })
          const j = k % proof.audit_path.length
          variants.push({
            audit_path: proof.audit_path.map((h, i) =>
              i === j ? `${h.slice(0, 63)}${h[63] === '0' ? '1' : '0'}` : h,
            ),
          })
          variants.push({ audit_path: proof.audit_path.slice(1) })
        }
        for (const v of variants) {
          const verdict = verifyStorageProof({ ...proof, ...v }, expectAll)
          expect(verdict.ok, JSON.stringify(Object.keys(v))).toBe(false)
        }
        // The proof's own root is not trusted: another shard's root fails even for an honest proof.
        expect(verifyStorageProof(proof, { merkleRoot: 'ee'.repeat(32) }).ok).toBe(false)
        expect(verifyStorageProof(proof, { merkleRoot: root, shardId: shardId(OBJECT, version, 5) }).ok).toBe(
          false,
        )
        expect(verifyStorageProof(proof, { merkleRoot: root, leafIndex: leafIndex + 1 }).ok).toBe(false)
        expect(verifyStorageProof(proof, { merkleRoot: root, leafCount: n + 1 }).ok).toBe(false)
      }),
      { seed: 1321, numRuns: 200 },
    )
  })

  it('verifies a 32-hash path, the deepest a tree of 2^32 - 1 leaves has, and no longer one', () => {
    // The mutation pass found a 32-hash path refusable: no honest tree in the tests is that deep, so
    // the proof is built from the RFC's recursion (pathShape) and @noble/hashes for both end leaves.
    const n = 2 ** 32 - 1
    const node = (l: Uint8Array, r: Uint8Array) => sha3_256(Uint8Array.from([1, ...l, ...r]))
    const block = Uint8Array.of(7, 7, 7)
    const leaf = oracleLeafHash(block)
    for (const m of [0, n - 1, 2 ** 31]) {
      const shape = pathShape(m, n)
      const path = shape.map((_, i) => oracleLeafHash(Uint8Array.of(i, m & 0xff)))
      const root = hex(path.reduce((r, p, i) => (shape[i] ? node(p, r) : node(r, p)), leaf))
      const proof: StorageProof = {
        object_id: OBJECT,
        version: 1,
        shard_id: shardId(OBJECT, 1, 0),
        leaf_index: m,
        leaf_count: n,
        block: Buffer.from(block).toString('base64'),
        leaf_hash: hex(leaf),
        audit_path: path.map(hex),
        merkle_root: root,
      }
      if (m === 0) expect(path.length).toBe(32)
      expect(verifyStorageProof(proof, { merkleRoot: root, leafIndex: m, leafCount: n })).toEqual({
        ok: true,
      })
      const longer = { ...proof, audit_path: [...proof.audit_path, hex(leaf)] }
      expect(verifyStorageProof(longer, { merkleRoot: root }).ok).toBe(false)
    }
  })

  it('answers ok:false, never throws, for malformed proofs and expectations', () => {
    const blocks = [Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)]
    const tree = MerkleTree.fromBlocks(blocks)
    const proof = buildStorageProof({
      objectId: OBJECT,
      version: 1,
      shardId: shardId(OBJECT, 1, 0),
      tree,
      leafIndex: 2,
      block: blocks[2]!,
    })
    const root = hex(tree.root)
    const malformed: unknown[] = [
      null,
      [],
      'proof',
      { ...proof, extra: 1 },
      { ...proof, block: undefined },
      { ...proof, block: 'Ax==' }, // non-canonical: unused bits set
      { ...proof, block: 'Aw' },
      { ...proof, block: '' },
      { ...proof, block: 3 },
      { ...proof, audit_path: 'x' },
      { ...proof, audit_path: [1] },
      { ...proof, audit_path: Array(33).fill('00'.repeat(32)) },
      { ...proof, leaf_index: -1 },
      { ...proof, leaf_index: 3 },
      { ...proof, leaf_index: '2' },
      { ...proof, leaf_count: 0 },
      { ...proof, version: 0 },
      { ...proof, leaf_hash: proof.leaf_hash.toUpperCase() },
      new Proxy(
        {},
        {
          ownKeys() {
            throw new Error('hostile')
          },
        },
      ),
    ]
    for (const m of malformed) expect(verifyStorageProof(m, { merkleRoot: root }).ok).toBe(false)
    for (const e of [null, {}, { merkleRoot: 'x' }, { merkleRoot: root.toUpperCase() }]) {
      expect(verifyStorageProof(proof, e as { merkleRoot: string }).ok).toBe(false)
    }
    fc.assert(
      fc.property(fc.anything(), fc.anything(), (p, e) => {
        const verdict = verifyStorageProof(p, e as { merkleRoot: string })
        expect(verdict.ok).toBe(false)
        if (!verdict.ok) expect(typeof verdict.reason).toBe('string')
      }),
      { seed: 1322, numRuns: 300 },
    )
  })

  it('refuses to build a proof for a block that is not the leaf', () => {
    const blocks = [Uint8Array.of(1), Uint8Array.of(2)]
    const tree = MerkleTree.fromBlocks(blocks)
    const args = {
      objectId: OBJECT,
      version: 1,
      shardId: shardId(OBJECT, 1, 0),
      tree,
      leafIndex: 0,
      block: blocks[1]!,
    }
    expect(errorCode(() => buildStorageProof(args))).toBe('INVALID_INPUT')
    expect(errorCode(() => buildStorageProof({ ...args, block: blocks[0]!, leafIndex: 2 }))).toBe(
      'INVALID_INPUT',
    )
    expect(errorCode(() => buildStorageProof({ ...args, block: blocks[0]!, version: 0 }))).toBe(
      'INVALID_INPUT',
    )
    expect(errorCode(() => buildStorageProof({ ...args, block: blocks[0]!, objectId: 'x' }))).toBe(
      'INVALID_INPUT',
    )
  })
})
