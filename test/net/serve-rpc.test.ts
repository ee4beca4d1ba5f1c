import { describe, expect, it } from 'vitest'
import type { NodeService } from '../../src/engine/node-service.js'
import type { FrameStream } from '../../src/net/frame-stream.js'
import type { Frame } from '../../src/net/frames.js'
import { MAX_INLINE_SHARD_BYTES, MAX_RPC_INLINE_BYTES_IN_FLIGHT } from '../../src/net/rpc-messages.js'
import { serveRpc } from '../../src/net/serve-rpc.js'

const ID = 'ab'.repeat(32)

/** A replica channel that asks for one inline fetch and ends; the replies it got. */
async function fetchInline(blockBytes: number) {
  const frames: Frame[] = [
    { type: 'json', value: { id: 1, op: 'fetch', body: { shard_id: ID, from_block: 0 } }, size: 0 },
    { type: 'end' } as Frame,
  ]
  const replies: { value: Record<string, unknown>; data?: Uint8Array }[] = []
  const fs = {
    read: async () => frames.shift()!,
    writeJsonWithData: async (value: Record<string, unknown>, data?: Uint8Array) => {
      replies.push({ value, data })
    },
  } as unknown as FrameStream
  const node = {
    fetchShard: async function* () {
      yield new Uint8Array(blockBytes)
    },
  } as unknown as NodeService
  await serveRpc(node, { fs, signal: new AbortController().signal })
  return replies
}

describe('replica/rpc fetch (docs/protocol.md "replica/rpc")', () => {
  it('answers a block of up to MAX_INLINE_SHARD_BYTES inline, and refuses a larger one', async () => {
    const [fits] = await fetchInline(MAX_INLINE_SHARD_BYTES)
    expect(fits!.value).toMatchObject({ id: 1, ok: true, body: { blocks: 1 }, data: true })
    expect(fits!.data).toHaveLength(MAX_INLINE_SHARD_BYTES)
    const [over] = await fetchInline(MAX_INLINE_SHARD_BYTES + 1)
    expect(over!.value).toMatchObject({ id: 1, ok: false, error: { code: 'FRAME_INVALID' } })
    expect(over!.data).toBeUndefined()
  })
})

describe('replica/rpc when the node stops', () => {
  it('ends a channel waiting for its next request as soon as the node drains', async () => {
    const fs = {
      read: (signal: AbortSignal) =>
        new Promise<Frame>((_resolve, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason))
        }),
    } as unknown as FrameStream
    const draining = new AbortController()
    const served = serveRpc({} as NodeService, {
      fs,
      signal: new AbortController().signal,
      draining: draining.signal,
    })
    await new Promise((r) => setTimeout(r, 10))
    draining.abort()
    const ended = await Promise.race([
      served.then(() => 'ended'),
      new Promise((r) => setTimeout(() => r('still reading'), 500)),
    ])
    expect(ended).toBe('ended')
  })
})

describe('replica/rpc backpressure', () => {
  it('stops reading requests while the blocks of unwritten fetch replies reach MAX_RPC_INLINE_BYTES_IN_FLIGHT', async () => {
    let reads = 0
    const channel = new AbortController()
    const fs = {
      // A peer that sends fetch requests without end, and never reads a reply.
      read: () =>
        new Promise<Frame>((resolve) =>
          setTimeout(() => {
            reads++
            resolve({
              type: 'json',
              value: { id: reads, op: 'fetch', body: { shard_id: ID, from_block: 0 } },
              size: 0,
            })
          }, 1),
        ),
      writeJsonWithData: (_v: unknown, _d: unknown, signal: AbortSignal) =>
        new Promise<void>((_resolve, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason)),
        ),
    } as unknown as FrameStream
    const node = {
      fetchShard: async function* () {
        yield new Uint8Array(MAX_INLINE_SHARD_BYTES)
      },
    } as unknown as NodeService
    const served = serveRpc(node, { fs, signal: channel.signal }).catch(() => {})
    await new Promise((r) => setTimeout(r, 300))
    // 16 blocks of 256 KiB fill the 4 MiB; the loop may have read one request more before it saw them.
    expect(reads).toBeLessThanOrEqual(MAX_RPC_INLINE_BYTES_IN_FLIGHT / MAX_INLINE_SHARD_BYTES + 1)
    channel.abort(new Error('test over'))
    await served
  })
})
