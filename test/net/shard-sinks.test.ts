import type { Stream } from '@libp2p/interface'
import { streamPair } from '@libp2p/utils'
import { describe, expect, it } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import type { ShardHeader } from '../../src/engine/transport.js'
import { RemoteError } from '../../src/net/errors.js'
import { FrameStream } from '../../src/net/frame-stream.js'
import { encodeErrorFrame, type JsonObject, MAX_FRAME_BYTES } from '../../src/net/frames.js'
import type { RpcChannels } from '../../src/net/rpc-client.js'
import { InlineShardSink, RemoteShardSink } from '../../src/net/shard-sinks.js'

// The coordinator's two shard sinks, against the other end of a stream pair (RemoteShardSink) or a
// channel that records its requests (InlineShardSink): what reaches the replica, and which staged
// answers are taken.

const NODE = 'replica-node'
const OID = objectId('shard-sinks', 'a')
const SHARD = shardId(OID, 1, 0)
const header: ShardHeader = {
  object_id: OID,
  version: 1,
  shard_index: 0,
  shard_id: SHARD,
  length: 2,
  block_size_bytes: DEFAULT_PARAMS.blockSizeBytes,
}
const staged = (over: Partial<Record<string, string>> = {}): JsonObject => ({
  node_id: NODE,
  staging_id: 'staging-1',
  shard_id: SHARD,
  length: 2,
  leaf_count: 1,
  merkle_root: 'c'.repeat(64),
  ...over,
})
const frameStream = (stream: Stream) =>
  new FrameStream(stream, {
    maxFrameBytes: MAX_FRAME_BYTES,
    idleMs: 10_000,
  })

/** A push stream: the sink's end, and the replica's raw end. */
async function push(): Promise<{ sink: RemoteShardSink; fs: FrameStream; replica: FrameStream }> {
  const [client, server] = await streamPair()
  const fs = frameStream(client)
  return { sink: new RemoteShardSink(fs, NODE, SHARD, 0), fs, replica: frameStream(server) }
}

async function settle(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => 'resolved',
    (err: unknown) => err,
  )
}

describe('RemoteShardSink (replica/push, calling end)', () => {
  for (const [what, answer] of [
    ['another node', staged({ node_id: 'some-other-node' })],
    ['another shard', staged({ shard_id: shardId(OID, 1, 1) })],
  ] as const) {
    it(`refuses a staged answer that names ${what}`, async () => {
      const { sink, replica } = await push()
      await sink.write(Uint8Array.of(1, 2))
      const answered = (async () => {
        for (;;) if ((await replica.read()).type === 'end') break
        await replica.writeJson(answer)
      })()
      const err = await settle(sink.finish())
      await answered
      expect(err).toBeInstanceOf(NodeUnavailableError)
      expect((err as Error).cause).toMatchObject({ code: 'FRAME_INVALID' })
    })
  }

  it("stops at the replica's refusal: the next block is not sent, the stream is reset, the code kept", async () => {
    const { sink, fs, replica } = await push()
    await sink.write(Uint8Array.of(1))
    expect((await replica.read()).type).toBe('data')
    for (const p of encodeErrorFrame({
      code: 'STORAGE_FULL',
      error_code: 'SE_ERR_NO_ELIGIBLE_NODES',
      error_detail: 'full',
    }))
      replica.stream.send(p)
    await expect.poll(() => fs.pending).toBe(1)
    const err = await settle(sink.write(Uint8Array.of(2)))
    expect(err).toBeInstanceOf(RemoteError)
    expect(err).toMatchObject({ code: 'STORAGE_FULL' })
    expect(fs.stream.status).not.toBe('open')
  })

  it("gives up on the answer at once when the caller's signal aborts, resetting the stream", async () => {
    const { sink, fs } = await push()
    await sink.write(Uint8Array.of(1, 2))
    const controller = new AbortController()
    const finished = settle(sink.finish({ signal: controller.signal }))
    setTimeout(() => controller.abort(new Error('write cancelled')), 50)
    const started = Date.now()
    // The replica never answers; only the abort ends the wait (the idle timeout is 10 s).
    expect(await finished).toBeInstanceOf(Error)
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(fs.stream.status).not.toBe('open')
  })
})

describe('InlineShardSink (a stage request on the replica channel)', () => {
  const recording = () => {
    const requests: { body: unknown; data?: Uint8Array; signal?: AbortSignal }[] = []
    const rpc = {
      request: async (
        _node: string,
        _op: string,
        body: unknown,
        options: { data?: Uint8Array; signal?: AbortSignal },
      ) => {
        requests.push({ body, ...options })
        return { body: { staged: [staged()] } }
      },
    }
    return { rpc: rpc as unknown as RpcChannels, requests }
  }

  it('sends nothing for a shard finished short of its length', async () => {
    const { rpc, requests } = recording()
    const sink = new InlineShardSink(rpc, NODE, header)
    await sink.write(Uint8Array.of(1))
    await expect(sink.finish()).rejects.toThrow(RangeError)
    expect(requests).toEqual([])
  })

  it("stages the whole shard under the caller's signal", async () => {
    const { rpc, requests } = recording()
    const sink = new InlineShardSink(rpc, NODE, header)
    await sink.write(Uint8Array.of(1))
    await sink.write(Uint8Array.of(2))
    const signal = new AbortController().signal
    expect(await sink.finish({ signal })).toMatchObject({ node_id: NODE, shard_id: SHARD })
    expect(requests).toHaveLength(1)
    expect(requests[0]!.data).toEqual(Uint8Array.of(1, 2))
    expect(requests[0]!.signal).toBe(signal)
  })
})
