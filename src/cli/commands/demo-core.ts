import { generateContent } from '../../conformance/content.js'
import { toHex, utf8 } from '../../core/bytes.js'
import { challengeIndex, challengeSeed } from '../../core/challenge.js'
import { hashCommit } from '../../core/commit.js'
import { sha3Hex } from '../../core/hash.js'
import { objectId, shardId } from '../../core/ids.js'
import { MerkleTree } from '../../core/merkle.js'
import { metadataSeed, normalizeMetadata } from '../../core/metadata.js'
import { DEFAULT_PARAMS } from '../../core/params.js'
import { EligibleSet } from '../../core/placement.js'
import { buildStorageProof, verifyStorageProof } from '../../core/proof.js'
import { computeShardLayout } from '../../core/shards.js'

const SAMPLE_NODES = ['node-a', 'node-b', 'node-c', 'node-d', 'node-e']

/**
 * The core end to end on one object, with no network and no disk: split, place, challenge, prove.
 * `qfs-node demo` loads this module when it runs (the core's hashing is not needed for `--help`).
 */
export function runCoreDemo(size: number): Record<string, unknown> {
  const content = generateContent({ sha3_stream: 'qfs-demo', length: size })
  const metadata = normalizeMetadata({
    author_node_id: 'node-a',
    created_at_tick: 1,
    tags: ['Demo', ' sample '],
  })
  const oid = objectId('demo', 'hello-qfs')
  const version = 1
  const commit = hashCommit(content, DEFAULT_PARAMS.schemaVersion, metadataSeed(metadata))
  const eligible = new EligibleSet(SAMPLE_NODES)
  const layout = computeShardLayout(content, DEFAULT_PARAMS)
  const shards = layout.map((s) => {
    const id = shardId(oid, version, s.index)
    return {
      shard_index: s.index,
      shard_id: id,
      length: s.length,
      block_count: s.blockCount,
      merkle_root: toHex(s.merkleRoot),
      replicas: eligible.place(id, DEFAULT_PARAMS.replicationFactor).selected,
    }
  })
  // Challenge the first non-empty shard the way an auditor would in epoch 1.
  const target = layout.find((s) => s.blockCount > 0)
  let proof: Record<string, unknown> | null = null
  if (target !== undefined) {
    const snapshotHash = sha3Hex(utf8('demo-snapshot'))
    const id = shardId(oid, version, target.index)
    const leaf = challengeIndex(challengeSeed(1, snapshotHash), id, target.blockCount)
    const start = target.start + leaf * DEFAULT_PARAMS.blockSizeBytes
    const block = content.subarray(
      start,
      Math.min(start + DEFAULT_PARAMS.blockSizeBytes, target.start + target.length),
    )
    const p = buildStorageProof({
      objectId: oid,
      version,
      shardId: id,
      tree: MerkleTree.fromLeafHashes(target.leafHashes),
      leafIndex: leaf,
      block,
    })
    const verdict = verifyStorageProof(p, {
      merkleRoot: toHex(target.merkleRoot),
      shardId: id,
      leafIndex: leaf,
    })
    proof = {
      shard_id: id,
      leaf_index: leaf,
      leaf_count: p.leaf_count,
      audit_path: p.audit_path,
      verified: verdict.ok,
    }
  }
  return {
    object_id: oid,
    version,
    content_size: size,
    hash_commit: toHex(commit),
    metadata,
    eligible_nodes: eligible.nodes,
    catalogue_homes: eligible.catalogueHomes(oid, DEFAULT_PARAMS.replicationFactor),
    shards,
    proof,
  }
}
