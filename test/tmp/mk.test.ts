import { test, expect } from 'vitest'
import { readFileSync } from 'node:fs'
import { MerkleTree, leafHash, verifyInclusion } from '../../src/core/merkle.js'
import { sha3 } from '../../src/core/hash.js'
import { concatBytes, utf8, u64, toHex } from '../../src/core/bytes.js'
function gen(s: string, n: number) { const parts=[]; let len=0; for (let i=0; len<n; i++){ const h=sha3(utf8(s), u64(i)); parts.push(h); len+=32 } return concatBytes(parts).subarray(0,n) }
test('mk', () => {
  const v = JSON.parse(readFileSync('test/vectors/core-public.json','utf8'))
  for (const c of v.cases.filter((c: any) => c.kind==='merkle_proof')) {
    const data = gen(c.input.shard_content.sha3_stream, c.input.shard_content.length)
    const blocks=[]; for (let o=0;o<data.length;o+=262144) blocks.push(data.subarray(o,o+262144))
    const t = MerkleTree.fromBlocks(blocks)
    const path = t.auditPath(c.input.leaf_index).map(toHex)
    expect({leaf_count: t.leafCount, merkle_root: toHex(t.root), leaf_hash: toHex(t.leaf(c.input.leaf_index)), audit_path: path}).toEqual(c.expected)
    expect(verifyInclusion(t.leaf(c.input.leaf_index), c.input.leaf_index, t.leafCount, t.auditPath(c.input.leaf_index), t.root)).toBe(true)
  }
})
