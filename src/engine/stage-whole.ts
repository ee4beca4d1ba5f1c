import { concatBytes, toHex } from '../core/bytes.js'
import type { HashCommitBuilder } from '../core/commit.js'
import { leafHash, MerkleTree } from '../core/merkle.js'
import type { ProtocolParams } from '../core/params.js'
import { splitIntoBlocks } from '../core/shards.js'
import { ask, type EngineContext, settleAsking } from './context.js'
import { CutShortError } from './errors.js'
import type { ShardHeader, StagedShardInfo, WholeShardRequest } from './transport.js'

/**
 * Objects up to this size are staged whole: each node gets all of its shards in one request, which
 * it stages in one database write. A 4 KiB object otherwise costs twelve shard stages (four shards,
 * three replicas each), each a request and four database writes; the size keeps a node's request
 * within what one replica-channel request carries.
 */
export const WHOLE_STAGE_BYTES = 256 * 1024

/** One shard of the write plan: where it goes and how long it is. */
export interface PlannedShard {
  index: number
  shardId: string
  length: number
  replicas: string[]
}

export interface WholeStageArgs {
  objectId: string
  version: number
  content: { size: number; chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array> }
  params: ProtocolParams
  plan: readonly PlannedShard[]
  /** Replicas each shard needs; peers that lately failed are not waited for past it (`settleAsking`). */
  quorum: number
  signal?: AbortSignal
  /** Peers this write already cut off (`settleAsking`). */
  cutBefore?: Set<string>
}

export interface StagedShards {
  /** Replicas that staged each shard with the root the coordinator computed, by shard id. */
  staged: Map<string, StagedShardInfo[]>
  roots: Map<string, { root: string; leafCount: number }>
  /** Why replicas failed to stage each shard, by shard id (a mismatched answer is not listed). */
  refused: Map<string, unknown[]>
}

/**
 * Stages a small object (at most WHOLE_STAGE_BYTES) on every replica of every shard, feeding
 * `commit` with its blocks in order. The content is read whole first (it is small), so a source
 * that fails stages nothing. A replica whose answer does not match the shard as sent is taken back
 * and left out, as in the streamed path; a node that fails is left out of every shard it was asked for.
 */
export async function stageWhole(
  ctx: EngineContext,
  args: WholeStageArgs,
  commit: HashCommitBuilder,
): Promise<StagedShards> {
  const { plan, params } = args
  const blocks: Uint8Array[][] = plan.map(() => [])
  const leaves: Uint8Array[][] = plan.map(() => [])
  for await (const { shardIndex, block } of splitIntoBlocks(args.content.chunks, args.content.size, params)) {
    commit.update(block)
    blocks[shardIndex]!.push(block)
    leaves[shardIndex]!.push(leafHash(block))
  }
  const roots = new Map<string, { root: string; leafCount: number }>()
  const byNode = new Map<string, Array<{ shardId: string; request: WholeShardRequest }>>()
  for (const p of plan) {
    const tree = MerkleTree.fromLeafHashes(leaves[p.index]!)
    roots.set(p.shardId, { root: toHex(tree.root), leafCount: tree.leafCount })
    const header: ShardHeader = {
      object_id: args.objectId,
      version: args.version,
      shard_index: p.index,
      shard_id: p.shardId,
      length: p.length,
      block_size_bytes: params.blockSizeBytes,
    }
    const bytes = blocks[p.index]!.length === 1 ? blocks[p.index]![0]! : concatBytes(blocks[p.index]!)
    for (const node of p.replicas) {
      const list = byNode.get(node) ?? []
      list.push({ shardId: p.shardId, request: { header, bytes } })
      byNode.set(node, list)
    }
  }
  const matches = (info: StagedShardInfo) => {
    const expected = roots.get(info.shard_id)
    return (
      expected !== undefined && info.merkle_root === expected.root && info.leaf_count === expected.leafCount
    )
  }
  const enough = (answers: ReadonlyArray<{ value?: StagedShardInfo[] }>) => {
    const good = new Map<string, number>()
    for (const a of answers)
      for (const info of a.value ?? []) {
        if (matches(info)) good.set(info.shard_id, (good.get(info.shard_id) ?? 0) + 1)
      }
    return plan.every((p) => (good.get(p.shardId) ?? 0) >= args.quorum)
  }
  const answers = await settleAsking<StagedShardInfo[]>(
    ctx,
    [...byNode.keys()],
    { signal: args.signal, enough, cutBefore: args.cutBefore },
    (node, signal) =>
      ask(ctx, node, signal, (s) =>
        ctx.transport.stageShards(
          node,
          byNode.get(node)!.map((r) => r.request),
          { signal: s },
        ),
      ),
  )
  const staged = new Map<string, StagedShardInfo[]>(plan.map((p) => [p.shardId, []]))
  const refused = new Map<string, unknown[]>(plan.map((p) => [p.shardId, []]))
  for (const answer of answers) {
    if (answer.value === undefined) {
      // A cut-off is no refusal: every shard had enough without it, so it never explains a shortfall.
      if (answer.error instanceof CutShortError) continue
      for (const s of byNode.get(answer.node)!) refused.get(s.shardId)!.push(answer.error)
      continue
    }
    const wrong: string[] = []
    for (const info of answer.value) {
      // A replica that hashed different bytes than we sent is not a replica of this shard.
      if (matches(info)) staged.get(info.shard_id)!.push(info)
      else wrong.push(info.staging_id)
    }
    if (wrong.length > 0) void ctx.transport.abortStaging(answer.node, wrong).catch(() => {})
  }
  return { staged, roots, refused }
}
