import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p, Stream } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { StorageClient } from '../../src/net/client.js'
import { StreamEndedError } from '../../src/net/errors.js'
import { encodeJsonFrame, type Frame, FrameDecoder } from '../../src/net/frames.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { QfsClient } from '../../src/sdk/client.js'

// A put's frames as a node receives them: content given whole, up to 64 KiB, arrives with its
// request and END in one muxer message; more, or content given in pieces, as before.

let server: Libp2p
let client: Libp2p
const received: Array<{ messages: number; frames: Frame['type'][] }> = []

beforeAll(async () => {
  server = await createQfsLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
  })
  client = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
  // A node that reads a write to its END, then refuses it: what it saw is what the client sent.
  await server.handle(PROTOCOLS.write, (stream: Stream) => {
    const decoder = new FrameDecoder()
    const seen = { messages: 0, frames: [] as Frame['type'][] }
    stream.addEventListener('message', (evt) => {
      seen.messages++
      for (const frame of decoder.push(evt.data)) {
        seen.frames.push(frame.type)
        if (frame.type !== 'end') continue
        received.push(seen)
        const failure = {
          ok: false,
          error_code: 'SE_ERR_INTERNAL',
          error_detail: 'refused by the test',
          code: 'TEST',
          storage_event_id: null,
        }
        stream.send(new Uint8Array(Buffer.concat(encodeJsonFrame(failure))))
        stream.close().catch(() => {})
      }
    })
  })
})

afterAll(async () => {
  await client?.stop()
  await server?.stop()
})

async function put(content: Uint8Array | Uint8Array[]) {
  const wire = new StorageClient({ libp2p: client })
  const size = Array.isArray(content) ? content.reduce((n, c) => n + c.length, 0) : content.length
  const answer = await wire.put(
    server.getMultiaddrs()[0]!,
    {
      object_id: objectId('whole-write', String(received.length)),
      version: 1,
      metadata: { author_node_id: 't', created_at_tick: 1 },
      content_size: size,
    },
    content,
  )
  expect(answer).toMatchObject({ ok: false, code: 'TEST' })
  return received.at(-1)!
}

describe('a put on the wire', () => {
  it('sends 4 KiB given whole with its request and END in one message', async () => {
    expect(await put(new Uint8Array(4096))).toEqual({ messages: 1, frames: ['json', 'data', 'end'] })
  })

  it('sends an empty content with its request and END in one message', async () => {
    expect(await put(new Uint8Array(0))).toEqual({ messages: 1, frames: ['json', 'end'] })
  })

  it('gets 4 KiB given whole to the SDK there in one message too', async () => {
    const sdk = await QfsClient.create({
      node: `${server.getMultiaddrs()[0]!.toString()}`,
      libp2p: client,
    })
    try {
      const answer = await sdk.putContent(objectId('whole-write', 'sdk'), 1, new Uint8Array(4096), {
        author_node_id: 't',
        created_at_tick: 1,
      })
      expect(answer).toMatchObject({ ok: false, code: 'TEST' })
      expect(received.at(-1)).toEqual({ messages: 1, frames: ['json', 'data', 'end'] })
    } finally {
      await sdk.close()
    }
  })

  it('streams content over 64 KiB, and content given in pieces, frame by frame', async () => {
    const big = await put(new Uint8Array(100 * 1024))
    expect(big.frames).toEqual(['json', 'data', 'end'])
    expect(big.messages).toBeGreaterThan(1)
    const pieces = await put([new Uint8Array(1000), new Uint8Array(1000)])
    expect(pieces.frames).toEqual(['json', 'data', 'data', 'end'])
    expect(pieces.messages).toBeGreaterThan(1)
  })
})

/** A FrameStream whose stream was reset before the first send: send throws, nothing is queued. */
function resetStream() {
  const calls: string[] = []
  const fs = {
    pending: 0,
    inputEnded: false,
    pendingError: () => undefined,
    write: async () => {
      calls.push('write')
      // What FrameStream.write throws when stream.send throws (StreamStateError: stream reset).
      throw new StreamEndedError('stream closed while writing')
    },
    writeData: async () => {
      calls.push('writeData')
      throw new StreamEndedError('stream closed while writing')
    },
    writeEnd: async () => {
      throw new StreamEndedError('stream closed while writing')
    },
    close: async () => {},
    read: async () => {
      throw new StreamEndedError('reset')
    },
    abort: () => {},
    done: () => {},
    dispose: () => {},
  }
  return { fs, calls }
}

async function putOnReset(content: Uint8Array | Uint8Array[]) {
  const wire = new StorageClient({ libp2p: {} as never })
  const { fs, calls } = resetStream()
  ;(wire as unknown as { open: () => Promise<unknown> }).open = async () => fs
  const size = Array.isArray(content) ? content.reduce((n, c) => n + c.length, 0) : content.length
  const err = await wire
    .put(
      '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWGzh8vJ7fJ5hXj9q2Y1m3o8ZbWkQy7g1S9ZcBvB3nUwGz' as never,
      {
        object_id: objectId('unsent', String(size)),
        version: 1,
        metadata: { author_node_id: 't', created_at_tick: 1 },
        content_size: size,
      },
      content,
    )
    .then(
      (a) => a,
      (e: unknown) => e,
    )
  return { err, calls }
}

describe('a put whose stream is reset before anything is sent', () => {
  it('streamed (content in pieces): a definite failure, NODE_UNAVAILABLE', async () => {
    const { err, calls } = await putOnReset([new Uint8Array(1000)])
    expect(calls).toEqual(['write'])
    expect(err).toMatchObject({ code: 'NODE_UNAVAILABLE' })
  })

  it('whole (up to 64 KiB): the same definite failure, not WRITE_OUTCOME_UNKNOWN', async () => {
    const { err, calls } = await putOnReset(new Uint8Array(1000))
    expect(calls).toEqual(['write'])
    expect(err).toMatchObject({ code: 'NODE_UNAVAILABLE' })
  })
})
