import { describe, expect, it } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import type { NodeService } from '../../src/engine/node-service.js'
import type { FrameStream } from '../../src/net/frame-stream.js'
import type { Frame } from '../../src/net/frames.js'
import { serveRpc } from '../../src/net/serve-rpc.js'

// One request on a replica channel at the server, against a fake stream and a fake node: the
// signal its handler runs under (its own deadline, and the channel's), and the shape of its reply.

const OID = objectId('serve-rpc-requests', 'a')
const stage: Frame = {
  type: 'json',
  size: 0,
  value: {
    id: 1,
    op: 'stage',
    body: {
      shards: [
        {
          object_id: OID,
          version: 1,
          shard_index: 0,
          shard_id: shardId(OID, 1, 0),
          length: 1,
          block_size_bytes: DEFAULT_PARAMS.blockSizeBytes,
        },
      ],
    },
  },
}
const data: Frame = { type: 'data', size: 1, chunks: [Uint8Array.of(7)] } as Frame

interface Reply {
  value: Record<string, unknown>
  data?: Uint8Array
}

/**
 * A channel that sends `frames`, then waits (its reads follow the channel's signal), and the
 * replies written to it; `replied` resolves at the first.
 */
function channel(frames: Frame[]) {
  const replies: Reply[] = []
  let first: (r: Reply) => void = () => {}
  const replied = new Promise<Reply>((resolve) => (first = resolve))
  const fs = {
    read: (signal: AbortSignal) =>
      frames.length > 0
        ? Promise.resolve(frames.shift()!)
        : new Promise<Frame>((_resolve, reject) =>
            signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
          ),
    writeJsonWithData: async (value: Record<string, unknown>, d?: Uint8Array) => {
      replies.push({ value, data: d })
      first({ value, data: d })
    },
  } as unknown as FrameStream
  return { fs, replies, replied }
}

/** A node whose stage waits for its signal to abort, then fails with its reason. */
function waitingNode() {
  let began: (signal: AbortSignal) => void = () => {}
  const started = new Promise<AbortSignal>((resolve) => (began = resolve))
  const node = {
    stageShards: (_shards: unknown, options?: { signal?: AbortSignal }) =>
      new Promise((_resolve, reject) => {
        const signal = options?.signal
        if (signal === undefined) return
        began(signal)
        signal.addEventListener('abort', () => reject(signal.reason), { once: true })
      }),
  } as unknown as NodeService
  return { node, started }
}

const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<'late'>((r) => setTimeout(() => r('late'), ms))])

describe('a replica/rpc request at the server', () => {
  it('runs under its own deadline: past requestTimeoutMs it is answered TIMEOUT and the channel goes on', async () => {
    const { fs, replied } = channel([stage, data])
    const { node } = waitingNode()
    const channelLife = new AbortController()
    const served = serveRpc(node, { fs, signal: channelLife.signal, requestTimeoutMs: 50 }).catch(() => {})
    const reply = await within(replied, 2_000)
    expect(reply).toMatchObject({ value: { id: 1, ok: false, error: { code: 'TIMEOUT' } } })
    channelLife.abort(new Error('test over'))
    await served
  })

  it('stops when the channel fails, not at its deadline', async () => {
    const { fs } = channel([stage, data])
    const { node, started } = waitingNode()
    const channelLife = new AbortController()
    const served = serveRpc(node, { fs, signal: channelLife.signal, requestTimeoutMs: 60_000 }).catch(
      () => {},
    )
    const signal = await within(started, 2_000)
    expect(signal).not.toBe('late')
    channelLife.abort(new Error('the peer reset the channel'))
    expect(
      await within(
        served.then(() => (signal as AbortSignal).aborted),
        2_000,
      ),
    ).toBe(true)
  })

  it('answers a fetch whose block is empty without announcing DATA', async () => {
    const fetch: Frame = {
      type: 'json',
      size: 0,
      value: { id: 2, op: 'fetch', body: { shard_id: shardId(OID, 1, 0), from_block: 0 } },
    }
    const { fs, replied } = channel([fetch])
    const node = {
      fetchShard: async function* () {
        yield new Uint8Array(0)
      },
    } as unknown as NodeService
    const channelLife = new AbortController()
    const served = serveRpc(node, { fs, signal: channelLife.signal }).catch(() => {})
    const reply = await within(replied, 2_000)
    expect(reply).toMatchObject({ value: { id: 2, ok: true, data: false }, data: undefined })
    channelLife.abort(new Error('test over'))
    await served
  })

  it('fails, rather than ends cleanly, a channel reset while the node drains', async () => {
    const { fs } = channel([])
    const channelLife = new AbortController()
    const draining = new AbortController()
    const served = serveRpc({} as NodeService, { fs, signal: channelLife.signal, draining: draining.signal })
    await new Promise((r) => setTimeout(r, 10))
    // The peer resets the channel as the node begins to stop: that is a failure of the channel.
    channelLife.abort(new Error('the peer reset the stream'))
    draining.abort()
    await expect(served).rejects.toThrow('the peer reset the stream')
  })
})
