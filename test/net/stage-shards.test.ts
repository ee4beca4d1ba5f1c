import { describe, expect, it } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import type {
  ShardHeader,
  ShardSink,
  StagedShardInfo,
  WholeShardRequest,
} from '../../src/engine/transport.js'
import type { RpcChannels } from '../../src/net/rpc-client.js'
import { MAX_INLINE_SHARD_BYTES } from '../../src/net/rpc-messages.js'
import { stageShardsOnPeer } from '../../src/net/stage-shards.js'

// stageShardsOnPeer against a channel and a transport that record what they are asked: how shards
// are cut into stage requests, what travels with them, and what is taken back when one fails.

const NODE = 'replica-node'
const OID = objectId('stage-shards', 'a')

function shards(lengths: number[]): WholeShardRequest[] {
  return lengths.map((length, index) => ({
    header: {
      object_id: OID,
      version: 1,
      shard_index: index,
      shard_id: shardId(OID, 1, index),
      length,
      block_size_bytes: DEFAULT_PARAMS.blockSizeBytes,
    },
    bytes: new Uint8Array(length).fill(index + 1),
  }))
}

const stagedOf = (h: ShardHeader): StagedShardInfo => ({
  node_id: NODE,
  staging_id: `staging-${h.shard_index}`,
  shard_id: h.shard_id,
  length: h.length,
  leaf_count: 1,
  merkle_root: 'c'.repeat(64),
})

interface Recorded {
  requests: { headers: ShardHeader[]; data?: Uint8Array; signal?: AbortSignal }[]
  aborted: string[][]
  sinkAborts: number
}

/** A channel that stages each request (or fails those with a shard in `failing`), and a transport. */
function peer(failing: Set<number> = new Set()) {
  const log: Recorded = { requests: [], aborted: [], sinkAborts: 0 }
  const rpc = {
    request: async (
      _node: string,
      _op: string,
      body: { shards: ShardHeader[] },
      options: { data?: Uint8Array; signal?: AbortSignal },
    ) => {
      log.requests.push({ headers: body.shards, ...options })
      if (body.shards.some((h) => failing.has(h.shard_index))) throw new Error('stage refused')
      return { body: { staged: body.shards.map(stagedOf) } }
    },
  } as unknown as RpcChannels
  const transport = {
    openShard: async (_node: string, header: ShardHeader): Promise<ShardSink> => ({
      write: async () => {},
      finish: async () => {
        if (failing.has(header.shard_index)) throw new Error('push refused')
        return stagedOf(header)
      },
      abort: async () => {
        log.sinkAborts++
      },
    }),
    abortStaging: async (_node: string, ids: string[]) => {
      log.aborted.push(ids)
    },
  }
  return { rpc, transport, log }
}

describe('stageShardsOnPeer', () => {
  it('never puts more than MAX_INLINE_SHARD_BYTES in one request', async () => {
    const half = Math.floor(MAX_INLINE_SHARD_BYTES / 2) + 1
    const { rpc, transport, log } = peer()
    const staged = await stageShardsOnPeer(transport, rpc, NODE, shards([half, half, half]))
    expect(staged.map((s) => s.staging_id)).toEqual(['staging-0', 'staging-1', 'staging-2'])
    expect(log.requests.map((r) => r.data?.length)).toEqual([half, half, half])
  })

  it("sends every request under the caller's signal", async () => {
    const { rpc, transport, log } = peer()
    const signal = new AbortController().signal
    await stageShardsOnPeer(transport, rpc, NODE, shards([10, 20]), { signal })
    expect(log.requests).toHaveLength(1)
    expect(log.requests[0]!.signal).toBe(signal)
  })

  it('takes back the one shard another request staged when a request fails', async () => {
    const big = MAX_INLINE_SHARD_BYTES
    const { rpc, transport, log } = peer(new Set([1]))
    await expect(stageShardsOnPeer(transport, rpc, NODE, shards([big, big]))).rejects.toThrow('stage refused')
    expect(log.aborted).toEqual([['staging-0']])
  })

  it('lets go of a streamed shard whose push failed', async () => {
    const { rpc, transport, log } = peer(new Set([0]))
    await expect(
      stageShardsOnPeer(transport, rpc, NODE, shards([MAX_INLINE_SHARD_BYTES + 1])),
    ).rejects.toThrow('push refused')
    expect(log.sinkAborts).toBe(1)
  })
})
