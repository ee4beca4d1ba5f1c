import type { Command } from 'commander'
import { generateContent } from '../../conformance/content.js'
import { toHex, utf8 } from '../../core/bytes.js'
import { challengeIndex, challengeSeed } from '../../core/challenge.js'
import { hashCommit } from '../../core/commit.js'
import { InvalidInputError } from '../../core/errors.js'
import { sha3Hex } from '../../core/hash.js'
import { objectId, shardId } from '../../core/ids.js'
import { MerkleTree } from '../../core/merkle.js'
import { metadataSeed, normalizeMetadata } from '../../core/metadata.js'
import { DEFAULT_PARAMS } from '../../core/params.js'
import { EligibleSet } from '../../core/placement.js'
import { buildStorageProof, verifyStorageProof } from '../../core/proof.js'
import { computeShardLayout } from '../../core/shards.js'
import { CliExit, type CliIo, EXIT, printJson } from '../io.js'

const SAMPLE_NODES = ['node-a', 'node-b', 'node-c', 'node-d', 'node-e']

/** The core end to end on one object, with no network and no disk: split, place, challenge, prove. */
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

export function registerDemo(program: Command, io: CliIo): void {
  program
    .command('demo')
    .description('split a sample object into shards, place them on a sample node list, and prove one block')
    .option('--size <bytes>', 'content size in bytes', '1048576')
    .option('--json', 'print the whole result as JSON')
    .action((opts: { size: string; json?: boolean }) => {
      if (!/^\d{1,10}$/.test(opts.size)) throw new InvalidInputError('--size must be a byte count')
      const size = Number(opts.size)
      if (size > 256 * 1024 * 1024) throw new InvalidInputError('--size is at most 256 MiB for the demo')
      const result = runCoreDemo(size)
      if (opts.json === true) {
        printJson(io, result)
      } else {
        const shards = result.shards as Array<Record<string, unknown>>
        io.stdout(`object ${result.object_id} v${result.version}, ${size} bytes\n`)
        io.stdout(`hash_commit ${result.hash_commit}\n`)
        for (const s of shards) {
          io.stdout(
            `  shard ${s.shard_index} ${String(s.shard_id).slice(0, 16)}… ${s.length} B, ${s.block_count} blocks, ` +
              `root ${String(s.merkle_root).slice(0, 16)}… on ${(s.replicas as string[]).join(', ')}\n`,
          )
        }
        const proof = result.proof as Record<string, unknown> | null
        if (proof === null) io.stdout('no block to prove (empty content)\n')
        else
          io.stdout(
            `proof: block ${proof.leaf_index}/${proof.leaf_count} of shard ${String(proof.shard_id).slice(0, 16)}… ` +
              `${proof.verified === true ? 'verified' : 'NOT verified'}\n`,
          )
      }
      const proof = result.proof as Record<string, unknown> | null
      if (proof !== null && proof.verified !== true) throw new CliExit(EXIT.CHECK_FAILED)
    })
}
