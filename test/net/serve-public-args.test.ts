import { describe, expect, it } from 'vitest'
import type { StorageEngine } from '../../src/engine/engine.js'
import type { FrameStream } from '../../src/net/frame-stream.js'
import type { Frame } from '../../src/net/frames.js'
import type { ProtocolName } from '../../src/net/protocols.js'
import { PUBLIC_HANDLERS } from '../../src/net/serve-public.js'
import { oneReadPolicy } from './one-read-policy.js'

const ID = 'ab'.repeat(32)
const END = { type: 'end', size: 1 } as Frame

/**
 * What each public handler hands the engine of what its client asked: the epoch the client read
 * its placement under, the leaf a proof is asked for, the client's tick. Dropped on the way, the
 * engine would answer under its own epoch, or for leaf 0, and the client would never know.
 */

interface Call {
  method: string
  args: unknown[]
}

/** An engine that records each call and answers a failure shape (what the handler then sends). */
function recordingEngine(calls: Call[]): StorageEngine {
  return new Proxy(
    {},
    {
      get:
        (_target, method) =>
        async (...args: unknown[]) => {
          calls.push({ method: String(method), args })
          return { ok: false, code: 'NOT_FOUND', error_code: 'SE_ERR_NOT_FOUND', storage_event_id: null }
        },
    },
  ) as StorageEngine
}

/** An exchange whose client sent `request`, then the frames of `then`, and takes what it is sent. */
function exchange(request: object, then: Frame[] = [END]) {
  const sent: unknown[] = []
  const fs = {
    readJson: async () => request,
    read: async () => then.shift() ?? END,
    holdInput: () => {},
    write: async (parts: Uint8Array[]) => void sent.push(parts),
    writeJson: async (value: unknown) => void sent.push(value),
    abort: () => {},
  } as unknown as FrameStream
  return { ex: { fs, signal: new AbortController().signal, source: 'a' }, sent }
}

async function serve(name: ProtocolName, request: object, then?: Frame[]) {
  const calls: Call[] = []
  const { ex, sent } = exchange(request, then)
  const policy = { ...oneReadPolicy(), maxContentBytes: 1 << 20 }
  const outcome = await PUBLIC_HANDLERS[name]!(recordingEngine(calls), ex, policy).then(
    () => undefined,
    (err: unknown) => err,
  )
  return { calls, sent, outcome }
}

describe('the public handlers pass on what the client asked', () => {
  it("write: the client's epoch and tick", async () => {
    const request = { object_id: ID, version: 1, content_size: 0, metadata: {}, epoch: 3, timestamp_tick: 9 }
    const { calls, outcome } = await serve('write', request)
    expect(outcome).toBeUndefined()
    expect(calls.map((c) => c.method)).toEqual(['putContent'])
    expect(calls[0]!.args[4]).toMatchObject({ epoch: 3, timestampTick: 9 })
  })

  it("a delete marker: the client's epoch", async () => {
    const request = {
      object_id: ID,
      version: 2,
      content_size: 0,
      metadata: {},
      kind: 'DELETE_MARKER',
      epoch: 4,
    }
    const { calls } = await serve('write', request)
    expect(calls.map((c) => c.method)).toEqual(['deleteContent'])
    expect(calls[0]!.args[3]).toMatchObject({ epoch: 4 })
  })

  it('a delete marker that carries content is refused before the engine hears of it', async () => {
    const request = { object_id: ID, version: 2, content_size: 0, metadata: {}, kind: 'DELETE_MARKER' }
    const data: Frame = { type: 'data', chunks: [Uint8Array.of(1)] } as Frame
    const { calls, outcome } = await serve('write', request, [data, END])
    expect(outcome).toMatchObject({ code: 'UNEXPECTED_FRAME' })
    expect(calls).toEqual([])
  })

  it('get_proof: the leaf asked for, and the epoch', async () => {
    const request = { object_id: ID, version: 1, shard_id: ID, leaf_index: 5, epoch: 2 }
    const { calls } = await serve('getProof', request)
    expect(calls.map((c) => c.method)).toEqual(['getStorageProof'])
    expect(calls[0]!.args.slice(0, 3)).toEqual([ID, 1, ID])
    expect(calls[0]!.args[3]).toMatchObject({ leafIndex: 5, epoch: 2 })
  })

  it('list_objects: the filters and the epoch', async () => {
    const { calls } = await serve('listObjects', { filters: { limit: 7 }, epoch: 6 })
    expect(calls.map((c) => c.method)).toEqual(['listObjects'])
    expect(calls[0]!.args[0]).toEqual({ limit: 7 })
    expect(calls[0]!.args[1]).toMatchObject({ epoch: 6 })
  })
})
