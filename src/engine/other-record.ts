import { fromHex, toHex } from '../core/bytes.js'
import { MerkleTree } from '../core/merkle.js'
import type { ShardDescriptor, VersionRecord } from '../core/record.js'
import { type EngineContext, underRequestDeadline } from './context.js'

/**
 * Whether `node`, whose copy of `shard` did not verify against `record`, holds a copy that another
 * record of the same version commits to: its own record for the version names another root for the
 * shard, and its manifest rebuilds exactly that root. A home that took a racing writer's record
 * first keeps it and commits that writer's shards under the same shard ids (docs/consistency.md
 * "Racing writers"), so its copy differs from the decided one without being damaged; a racing delete
 * marker's copy is an empty shard, whose root is that of the empty tree. Asked only
 * after a copy failed to verify; any failure to tell (the node silent, no record, a manifest that
 * rebuilds to something else) counts as "no", so bad bytes are never excused by a missing answer.
 */
export async function holdsOtherRecordCopy(
  ctx: EngineContext,
  node: string,
  record: VersionRecord,
  shard: ShardDescriptor,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    const theirs = await underRequestDeadline(ctx, signal, (s) =>
      ctx.transport.getRecord(node, record.object_id, record.version, { signal: s }),
    )
    const root = theirs?.shards.find((s) => s.shard_id === shard.shard_id)?.merkle_root
    if (root === undefined || root === shard.merkle_root) return false
    const manifest = await underRequestDeadline(ctx, signal, (s) =>
      ctx.transport.getManifest(node, shard.shard_id, { signal: s }),
    )
    if (manifest === undefined) return false
    const leaves = manifest.leaf_hashes.map((h) => fromHex(h, 'leaf hash'))
    return toHex(MerkleTree.fromLeafHashes(leaves).root) === root
  } catch {
    return false
  }
}
