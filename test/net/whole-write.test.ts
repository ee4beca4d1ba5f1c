import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p, Stream } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { StorageClient } from '../../src/net/client.js'
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
