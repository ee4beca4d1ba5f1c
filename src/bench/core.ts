import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { toHex, utf8 } from '../core/bytes.js'
import { HashCommitBuilder } from '../core/commit.js'
import { createSha3, sha3Hex } from '../core/hash.js'
import { leafHash, MerkleTree, verifyInclusion } from '../core/merkle.js'
import { DEFAULT_PARAMS } from '../core/params.js'
import { EligibleSet } from '../core/placement.js'
import { buildStorageProof, verifyStorageProof } from '../core/proof.js'
import { splitIntoBlocks } from '../core/shards.js'
import { writeReport } from './report.js'

/**
 * Core throughput, each figure against a baseline measured in the same process (wall-clock is a
 * measurement here, never protocol data). Writes evidence/bench/core.json.
 */

const MIB = 1024 * 1024
const CONTENT_MIB = Number(process.env.QFS_BENCH_CORE_MIB ?? 256)
const NODES = 10_000
const PLACEMENTS = Number(process.env.QFS_BENCH_PLACEMENTS ?? 1_000_000)
const ROUNDS = 3

function best(times: number[]): number {
  return Math.min(...times)
}

/** One plain SHA3-256 pass over the bytes: the floor any hash of the content costs. */
function plainPass(chunks: Uint8Array[]): string {
  const h = createSha3()
  for (const c of chunks) h.update(c)
  return toHex(h.digest())
}

/** What a writer computes: hash_commit and every shard's Merkle tree, from one read of the content. */
async function protocolPass(chunks: Uint8Array[], size: number): Promise<string> {
  const commit = new HashCommitBuilder()
  const leaves: Uint8Array[][] = [[], [], [], []]
  for await (const { shardIndex, block } of splitIntoBlocks(chunks, size, DEFAULT_PARAMS)) {
    commit.update(block)
    leaves[shardIndex]!.push(leafHash(block))
  }
  const roots = leaves.map((l) => toHex(MerkleTree.fromLeafHashes(l).root))
  return toHex(commit.digest(1, new Uint8Array(32))) + roots.join('')
}

async function hashing(): Promise<Record<string, unknown>> {
  const chunks = Array.from({ length: CONTENT_MIB }, () => new Uint8Array(randomBytes(MIB)))
  const size = CONTENT_MIB * MIB
  const plain: number[] = []
  const protocol: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    let t = performance.now()
    plainPass(chunks)
    plain.push(performance.now() - t)
    t = performance.now()
    await protocolPass(chunks, size)
    protocol.push(performance.now() - t)
  }
  const plainMbS = CONTENT_MIB / (best(plain) / 1000)
  const protocolMbS = CONTENT_MIB / (best(protocol) / 1000)
  return {
    bytes: size,
    plain_sha3_mib_s: round(plainMbS),
    hash_commit_and_merkle_mib_s: round(protocolMbS),
    ratio: round(protocolMbS / plainMbS, 3),
    target_ratio: 0.45,
    pass: protocolMbS / plainMbS >= 0.45,
  }
}

function placement(): Record<string, unknown> {
  // Node ids shaped like libp2p peer ids; shard ids from the formula's hash.
  const nodes = Array.from({ length: NODES }, (_, i) => `12D3KooW${sha3Hex(utf8(`node-${i}`)).slice(0, 44)}`)
  let t = performance.now()
  const set = new EligibleSet(nodes)
  const sortMs = performance.now() - t
  const shardIds = Array.from({ length: PLACEMENTS }, (_, i) => sha3Hex(utf8(`shard-${i}`)))
  const rates: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    t = performance.now()
    for (const id of shardIds) set.place(id, DEFAULT_PARAMS.replicationFactor)
    rates.push(PLACEMENTS / ((performance.now() - t) / 1000))
  }
  const rate = Math.max(...rates)
  return {
    nodes: NODES,
    placements: PLACEMENTS,
    eligible_sort_ms: round(sortMs),
    placements_per_s: Math.round(rate),
    target_per_s: 1_000_000,
    pass: rate >= 1_000_000,
  }
}

function proofs(): Record<string, unknown> {
  // A 1 GiB shard has 4096 blocks: audit paths of 12 hashes.
  const leafCount = 4096
  const leaves = Array.from({ length: leafCount }, (_, i) => leafHash(utf8(`block-${i}`)))
  const tree = MerkleTree.fromLeafHashes(leaves)
  const paths = Array.from({ length: 1000 }, (_, i) => ({ i: (i * 2654435761) % leafCount }))
  const prepared = paths.map(({ i }) => ({ i, leaf: tree.leaf(i), path: tree.auditPath(i) }))
  let n = 0
  let t = performance.now()
  while (performance.now() - t < 1000) {
    for (const p of prepared) if (verifyInclusion(p.leaf, p.i, leafCount, p.path, tree.root)) n++
  }
  const inclusionPerS = n / ((performance.now() - t) / 1000)
  // A whole storage proof also re-hashes its 256 KiB block.
  const block = new Uint8Array(randomBytes(DEFAULT_PARAMS.blockSizeBytes))
  const blockTree = MerkleTree.fromLeafHashes([...leaves.slice(0, 7), leafHash(block)])
  const proof = buildStorageProof({
    objectId: '0'.repeat(64),
    version: 1,
    shardId: '1'.repeat(64),
    tree: blockTree,
    leafIndex: 7,
    block,
  })
  const root = toHex(blockTree.root)
  n = 0
  t = performance.now()
  while (performance.now() - t < 1000) {
    if (verifyStorageProof(proof, { merkleRoot: root }).ok) n++
  }
  const fullPerS = n / ((performance.now() - t) / 1000)
  return {
    leaf_count: leafCount,
    audit_path_length: tree.auditPath(0).length,
    inclusion_verifications_per_s: Math.round(inclusionPerS),
    storage_proof_verifications_per_s_256kib_block: Math.round(fullPerS),
  }
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

const results = { hashing: await hashing(), placement: placement(), proofs: proofs() }
await writeReport('core', { results })
