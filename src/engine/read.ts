import { equalBytes, fromHex, toHex } from '../core/bytes.js'
import { HashCommitBuilder } from '../core/commit.js'
import { EmptyShardError } from '../core/errors.js'
import { leafHash, MerkleTree } from '../core/merkle.js'
import { metadataSeed } from '../core/metadata.js'
import { type StorageProof, verifyStorageProof } from '../core/proof.js'
import { recordDigest, type ShardDescriptor, type VersionRecord } from '../core/record.js'
import { type EngineContext, majority, replicaOrder, requestSignal, settle } from './context.js'
import {
  IntegrityMismatchError,
  ObjectNotFoundError,
  ProofUnavailableError,
  QuorumNotReachedError,
} from './errors.js'
import type { ShardReadInfo } from './responses.js'

/**
 * The record a majority of the object's homes agree on. Homes accept at most one record per
 * version, so at most one record can have a majority: this is what makes at most one content
 * readable for a given (object_id, version).
 */
export async function resolveRecord(
  ctx: EngineContext,
  homes: readonly string[],
  objectId: string,
  version: number | 'latest',
  signal?: AbortSignal,
): Promise<VersionRecord> {
  const q = majority(homes.length)
  let wanted = version
  if (wanted === 'latest') {
    const answers = await settle(homes, (n) =>
      ctx.transport.getRecord(n, objectId, 'latest', { signal: requestSignal(ctx, signal) }),
    )
    const versions = answers
      .filter((a) => a.error === undefined)
      .map((a) => a.value?.version ?? 0)
      .sort((a, b) => b - a)
    if (versions.length < q)
      throw new QuorumNotReachedError(`${versions.length} of ${homes.length} homes answered`)
    // Homes hold contiguous versions, so the q-th highest latest is held by at least q homes.
    wanted = versions[q - 1]!
    if (wanted === 0) throw new ObjectNotFoundError(`object ${objectId} has no version`)
  }
  const exact = wanted
  const answers = await settle(homes, (n) =>
    ctx.transport.getRecord(n, objectId, exact, { signal: requestSignal(ctx, signal) }),
  )
  const votes = new Map<string, { record: VersionRecord; count: number }>()
  let reachable = 0
  for (const a of answers) {
    if (a.error !== undefined) continue
    reachable++
    if (a.value === undefined) continue
    const digest = recordDigest(a.value)
    const v = votes.get(digest) ?? { record: a.value, count: 0 }
    v.count++
    votes.set(digest, v)
  }
  for (const v of votes.values()) if (v.count >= q) return v.record
  if (reachable < q) throw new QuorumNotReachedError(`${reachable} of ${homes.length} homes answered`)
  throw new ObjectNotFoundError(`object ${objectId} version ${exact} is not stored`)
}

/**
 * The content of a version, block by block in shard-index order. Every block is checked against
 * the leaf hashes a replica serves, those against the record's Merkle root, and the whole content
 * against `hash_commit` at the end. A replica that is down or serves bad bytes is skipped and the
 * next one continues from the same block.
 */
export async function* readVersion(
  ctx: EngineContext,
  record: VersionRecord,
  served: ShardReadInfo[] = [],
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const commit = new HashCommitBuilder()
  for (const shard of record.shards) {
    const info: ShardReadInfo = {
      shard_id: shard.shard_id,
      shard_index: shard.shard_index,
      merkle_root: shard.merkle_root,
      leaf_count: shard.leaf_count,
      served_by: null,
    }
    served.push(info)
    if (shard.length === 0) continue
    for await (const block of readShard(ctx, record, shard, info, signal)) {
      commit.update(block)
      yield block
    }
  }
  const digest = toHex(commit.digest(record.schema_version, metadataSeed(record.metadata)))
  if (digest !== record.hash_commit) {
    throw new IntegrityMismatchError(
      `content hashes to ${digest}, the record commits to ${record.hash_commit}`,
    )
  }
}

async function* readShard(
  ctx: EngineContext,
  record: VersionRecord,
  shard: ShardDescriptor,
  info: ShardReadInfo,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const blockSize = record.block_size_bytes
  let next = 0
  const failures: string[] = []
  for (const node of replicaOrder(shard.replicas, ctx.nodeId)) {
    try {
      const leaves = await verifiedLeaves(ctx, node, shard, signal)
      const controller = new AbortController()
      const streamSignal =
        signal === undefined ? controller.signal : AbortSignal.any([signal, controller.signal])
      try {
        for await (const block of ctx.transport.fetchShard(node, shard.shard_id, next, {
          signal: streamSignal,
        })) {
          const expectedLength = Math.min(blockSize, shard.length - next * blockSize)
          if (block.length !== expectedLength || !equalBytes(leafHash(block), leaves[next]!)) {
            throw new IntegrityMismatchError(
              `block ${next} of shard ${shard.shard_index} from ${node} does not verify`,
            )
          }
          info.served_by = node
          next++
          yield block
          if (next === shard.leaf_count) break
        }
      } finally {
        controller.abort()
      }
      if (next === shard.leaf_count) return
      throw new IntegrityMismatchError(
        `${node} ended shard ${shard.shard_index} after ${next} of ${shard.leaf_count} blocks`,
      )
    } catch (err) {
      if (signal?.aborted === true) throw err
      failures.push(`${node}: ${(err as Error).message}`)
    }
  }
  throw new IntegrityMismatchError(
    `no replica could serve shard ${shard.shard_index} of ${record.object_id} v${record.version} (${failures.join('; ')})`,
  )
}

/** A replica's leaf hashes, accepted only if they rebuild the root the record commits to. */
async function verifiedLeaves(
  ctx: EngineContext,
  node: string,
  shard: ShardDescriptor,
  signal?: AbortSignal,
): Promise<Uint8Array[]> {
  const manifest = await ctx.transport.getManifest(node, shard.shard_id, {
    signal: requestSignal(ctx, signal),
  })
  if (manifest === undefined) throw new ObjectNotFoundError(`${node} does not hold shard ${shard.shard_id}`)
  const leaves = manifest.leaf_hashes.map((h) => fromHex(h, 'leaf hash'))
  const root = MerkleTree.fromLeafHashes(leaves).root
  if (leaves.length !== shard.leaf_count || toHex(root) !== shard.merkle_root) {
    throw new IntegrityMismatchError(
      `${node}'s manifest of shard ${shard.shard_index} does not match the record`,
    )
  }
  return leaves
}

/** A proof for one block of a shard, from the first replica whose answer verifies against the record. */
export async function proveShard(
  ctx: EngineContext,
  record: VersionRecord,
  shardId: string,
  leafIndex: (shard: ShardDescriptor) => number,
  signal?: AbortSignal,
): Promise<{ proof: StorageProof; shard: ShardDescriptor; answeredBy: string }> {
  const shard = record.shards.find((s) => s.shard_id === shardId)
  if (shard === undefined) throw new ObjectNotFoundError(`shard ${shardId} is not part of this version`)
  if (shard.leaf_count === 0) throw new EmptyShardError(`shard ${shardId} is empty and cannot be challenged`)
  const index = leafIndex(shard)
  const failures: string[] = []
  for (const node of replicaOrder(shard.replicas, ctx.nodeId)) {
    try {
      const proof = await ctx.transport.proveShard(node, shardId, index, {
        signal: requestSignal(ctx, signal),
      })
      const verdict = verifyStorageProof(proof, { merkleRoot: shard.merkle_root, shardId, leafIndex: index })
      if (verdict.ok) return { proof, shard, answeredBy: node }
      failures.push(`${node}: ${verdict.reason}`)
    } catch (err) {
      if (signal?.aborted === true) throw err
      failures.push(`${node}: ${(err as Error).message}`)
    }
  }
  throw new ProofUnavailableError(
    `no replica proved block ${index} of shard ${shardId} (${failures.join('; ')})`,
  )
}
