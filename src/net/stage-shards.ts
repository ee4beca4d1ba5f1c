import { concatBytes } from '../core/bytes.js'
import type { AbortOptions, NodeTransport, StagedShardInfo, WholeShardRequest } from '../engine/transport.js'
import { exchangeFailure } from './dial.js'
import type { JsonObject } from './frames.js'
import type { RpcChannels } from './rpc-client.js'
import { MAX_INLINE_SHARD_BYTES, MAX_STAGE_SHARDS, parseStageReply } from './rpc-messages.js'

/**
 * Libp2pTransport.stageShards on a remote node: the shards go out in requests on its replica
 * channel, or streamed one by one through `transport.openShard`.
 */
export async function stageShardsOnPeer(
  transport: Pick<NodeTransport, 'openShard' | 'abortStaging'>,
  rpc: RpcChannels,
  nodeId: string,
  shards: WholeShardRequest[],
  options?: AbortOptions,
): Promise<StagedShardInfo[]> {
  // Requests of at most MAX_INLINE_SHARD_BYTES each; a larger shard streams on its own. Each
  // request is all or none; if one fails, what the others staged is taken back.
  const groups = stageGroups(shards)
  const results = await Promise.allSettled(
    groups.map((group) =>
      group.length === 1 && group[0]!.bytes.length > MAX_INLINE_SHARD_BYTES
        ? stageStreamed(transport, nodeId, group[0]!, options)
        : stageInline(rpc, nodeId, group, options),
    ),
  )
  const failed = results.find((r) => r.status === 'rejected')
  if (failed !== undefined) {
    const staged = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []))
    if (staged.length > 0)
      await transport
        .abortStaging(
          nodeId,
          staged.map((s) => s.staging_id),
        )
        .catch(() => {})
    throw failed.reason
  }
  return results.flatMap((r) => (r as PromiseFulfilledResult<StagedShardInfo[]>).value)
}

async function stageInline(
  rpc: RpcChannels,
  nodeId: string,
  group: WholeShardRequest[],
  options?: AbortOptions,
): Promise<StagedShardInfo[]> {
  const headers = group.map((s) => s.header)
  const data = group.length === 1 ? group[0]!.bytes : concatBytes(group.map((s) => s.bytes))
  const answer = await rpc.request(
    nodeId,
    'stage',
    { shards: headers as unknown as JsonObject[] },
    {
      data,
      signal: options?.signal,
    },
  )
  try {
    return parseStageReply(answer.body, headers, nodeId)
  } catch (err) {
    throw exchangeFailure(err, nodeId)
  }
}

async function stageStreamed(
  transport: Pick<NodeTransport, 'openShard'>,
  nodeId: string,
  shard: WholeShardRequest,
  options?: AbortOptions,
): Promise<StagedShardInfo[]> {
  const sink = await transport.openShard(nodeId, shard.header, options)
  try {
    await sink.write(shard.bytes)
    return [await sink.finish(options)]
  } catch (err) {
    await sink.abort(err as Error).catch(() => {})
    throw err
  }
}

/** Shards in order, cut into groups of at most MAX_INLINE_SHARD_BYTES and MAX_STAGE_SHARDS shards. */
function stageGroups(shards: readonly WholeShardRequest[]): WholeShardRequest[][] {
  const groups: WholeShardRequest[][] = []
  let current: WholeShardRequest[] = []
  let bytes = 0
  for (const shard of shards) {
    const size = shard.bytes.length
    if (
      current.length > 0 &&
      (bytes + size > MAX_INLINE_SHARD_BYTES || current.length === MAX_STAGE_SHARDS)
    ) {
      groups.push(current)
      current = []
      bytes = 0
    }
    current.push(shard)
    bytes += size
  }
  if (current.length > 0) groups.push(current)
  return groups
}
