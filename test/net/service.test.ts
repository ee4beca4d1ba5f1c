import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { Connection, PeerId, Stream, StreamHandler } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { streamPair } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { QfsError } from '../../src/core/errors.js'
import type { NodeService } from '../../src/engine/node-service.js'
import { FrameStream } from '../../src/net/frame-stream.js'
import {
  encodeDataFrame,
  encodeEndFrame,
  encodeErrorFrame,
  encodeJsonFrame,
  type Frame,
  frameBytes,
} from '../../src/net/frames.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { type Registrar, storageProtocol } from '../../src/net/service.js'

const SEED = 0x5eed_5e7c
const ID = 'ab'.repeat(32)
const ANSWER_CODES = [
  'FRAME_INVALID',
  'FRAME_TOO_LARGE',
  'UNKNOWN_MESSAGE',
  'UNEXPECTED_FRAME',
  'INVALID_INPUT',
  'STREAM_ENDED',
  'TIMEOUT',
]

/** A NodeService that holds nothing: these tests are about what reaches it, not what it stores. */
const emptyNode = {
  nodeId: 'stub',
  getRecord: async () => undefined,
  getManifest: async () => undefined,
  listRecords: async () => [],
  abortStaging: async () => {},
  commitVersion: async () => {
    throw new QfsError('VERSION_CONFLICT', 'another record holds this version')
  },
  proveShard: async () => {
    throw new QfsError('NOT_FOUND', 'shard not held')
  },
  openShard: async () => {
    throw new QfsError('INVALID_INPUT', 'no staging here')
  },
  async *fetchShard() {},
} as unknown as NodeService

let peer: PeerId
let outsider: PeerId

beforeAll(async () => {
  peer = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(1)))
  outsider = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(2)))
})

async function serviceHandlers(
  idleTimeoutMs = 2_000,
  onExchangeFailed?: (protocol: string, code: string) => void,
): Promise<Map<string, StreamHandler>> {
  const handlers = new Map<string, StreamHandler>()
  const registrar: Registrar = {
    handle: async (protocol, handler) => {
      handlers.set(protocol, handler)
    },
    unhandle: async (protocol) => {
      handlers.delete(protocol)
    },
  }
  const service = storageProtocol({
    node: emptyNode,
    isEligiblePeer: (id) => id === peer.toString(),
    limits: { idleTimeoutMs, requestTimeoutMs: 5_000 },
    onExchangeFailed,
  })({ registrar })
  await service.start()
  return handlers
}

/** Sends raw bytes on a fresh stream to `protocol` and collects every frame of the answer. */
async function exchange(
  handlers: Map<string, StreamHandler>,
  protocol: string,
  bytes: Uint8Array,
  options: { from?: PeerId; close?: boolean } = {},
): Promise<{ frames: Frame[]; end: string }> {
  const [client, server] = await streamPair()
  const handled = handlers.get(protocol)!(
    server as Stream,
    { remotePeer: options.from ?? peer, remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/1') } as Connection,
  )
  const fs = new FrameStream(client, { maxFrameBytes: 1_048_577, idleMs: 5_000 })
  if (bytes.length > 0) client.send(bytes)
  if (options.close !== false) await client.close()
  const frames: Frame[] = []
  let end = 'NO_END'
  for (;;) {
    try {
      frames.push(await fs.read())
    } catch (err) {
      end = err instanceof QfsError ? err.code : String(err)
      break
    }
  }
  // The handler settles (it never rejects: a rejection would fail this await and the test).
  await handled
  return { frames, end }
}

function errorCodeOf(frames: Frame[]): string | undefined {
  const last = frames[frames.length - 1]
  return last?.type === 'error' ? last.error.code : undefined
}

const json = (value: Record<string, unknown>) => frameBytes(encodeJsonFrame(value))
const utf8 = (s: string) => new TextEncoder().encode(s)

describe('storage protocol service (stream pair, stubbed node)', () => {
  it('answers a valid small request', async () => {
    const handlers = await serviceHandlers()
    const { frames, end } = await exchange(
      handlers,
      PROTOCOLS.replicaRecord,
      json({ object_id: ID, version: 'latest' }),
    )
    expect(frames).toEqual([{ type: 'json', value: { record: null }, size: 16 }])
    expect(end).toBe('STREAM_ENDED')
  })

  it("keeps the node's own error code on the wire", async () => {
    const handlers = await serviceHandlers()
    const { frames } = await exchange(handlers, PROTOCOLS.replicaProve, json({ shard_id: ID, leaf_index: 0 }))
    expect(frames).toHaveLength(1)
    expect(frames[0]).toMatchObject({
      type: 'error',
      error: { code: 'NOT_FOUND', error_code: 'SE_ERR_NOT_FOUND' },
    })
  })

  it('refuses node-to-node protocols to a peer outside the eligible set', async () => {
    const handlers = await serviceHandlers()
    for (const protocol of [PROTOCOLS.replicaRecord, PROTOCOLS.replicaPush, PROTOCOLS.replicaList]) {
      const { frames } = await exchange(handlers, protocol, json({ object_id: ID, version: 1 }), {
        from: outsider,
      })
      expect(errorCodeOf(frames)).toBe('NOT_ELIGIBLE')
      expect(frames[0]).toMatchObject({ error: { error_code: 'SE_ERR_AEGIS_CONTEXT_MISSING' } })
    }
  })

  it('registers no public protocol without an engine', async () => {
    const handlers = await serviceHandlers()
    expect(handlers.has(PROTOCOLS.write)).toBe(false)
    expect(handlers.has(PROTOCOLS.replicaFetch)).toBe(true)
  })

  const hostile: Array<[string, Uint8Array, string]> = [
    ['an empty frame', Uint8Array.of(0x00), 'FRAME_INVALID'],
    ['an oversized frame', Uint8Array.of(0x82, 0x80, 0x40), 'FRAME_TOO_LARGE'],
    ['an unknown frame type', Uint8Array.of(0x01, 0x09), 'UNKNOWN_MESSAGE'],
    ['non-canonical JSON', Uint8Array.of(0x04, 0x01, ...utf8('{ }')), 'FRAME_INVALID'],
    ['DATA before the request', frameBytes(encodeDataFrame(Uint8Array.of(1))), 'UNEXPECTED_FRAME'],
    ['END before the request', frameBytes(encodeEndFrame()), 'UNEXPECTED_FRAME'],
    ['a request with a missing field', json({ object_id: ID }), 'INVALID_INPUT'],
    ['a request with an unknown field', json({ object_id: ID, version: 1, extra: true }), 'INVALID_INPUT'],
    ['a request with a bad id', json({ object_id: 'AB', version: 1 }), 'INVALID_INPUT'],
    ['a truncated frame', Uint8Array.of(0x10, 0x01, 0x7b), 'FRAME_INVALID'],
    ['nothing at all', new Uint8Array(0), 'STREAM_ENDED'],
    // A client's ERROR frame is never taken as the node's own verdict: it could pick any code.
    [
      'an ERROR frame with a code of its choosing',
      frameBytes(
        encodeErrorFrame({ code: 'ATTACKER_CHOSEN', error_code: 'SE_ERR_INTERNAL', error_detail: 'x' }),
      ),
      'STREAM_ENDED',
    ],
  ]
  for (const [name, bytes, code] of hostile) {
    it(`answers ${name} with an ERROR frame (${code})`, async () => {
      const handlers = await serviceHandlers()
      const { frames } = await exchange(handlers, PROTOCOLS.replicaRecord, bytes)
      expect(frames).toHaveLength(1)
      expect(errorCodeOf(frames)).toBe(code)
    })
  }

  it('reports every exchange it ends with an ERROR frame, with the code sent, and none it answers', async () => {
    const failed: Array<[string, string]> = []
    const handlers = await serviceHandlers(2_000, (protocol, code) => failed.push([protocol, code]))
    await exchange(handlers, PROTOCOLS.replicaRecord, json({ object_id: ID, version: 'latest' }))
    expect(failed).toEqual([])
    await exchange(handlers, PROTOCOLS.replicaRecord, Uint8Array.of(0x01, 0x09))
    await exchange(handlers, PROTOCOLS.replicaProve, json({ shard_id: ID, leaf_index: 0 }))
    await exchange(handlers, PROTOCOLS.replicaList, json({ limit: 1 }), { from: outsider })
    expect(failed).toEqual([
      ['replicaRecord', 'UNKNOWN_MESSAGE'],
      ['replicaProve', 'NOT_FOUND'],
      ['replicaList', 'NOT_ELIGIBLE'],
    ])
  })

  it("ends a replica channel on the client's ERROR frame with STREAM_ENDED, not the client's code", async () => {
    const handlers = await serviceHandlers()
    const { frames } = await exchange(
      handlers,
      PROTOCOLS.replicaRpc,
      frameBytes(
        encodeErrorFrame({ code: 'ATTACKER_CHOSEN', error_code: 'SE_ERR_INTERNAL', error_detail: 'x' }),
      ),
    )
    expect(errorCodeOf(frames)).toBe('STREAM_ENDED')
  })

  // docs/protocol.md section 3: after its ERROR frame the server drops what the client still sends
  // until the client ends, even when the error lost the frame boundaries; a reset at once may
  // overtake the client's protocol negotiation and the frame with it.
  const framingErrors: Array<[string, Uint8Array, string]> = [
    ['non-canonical JSON', Uint8Array.of(0x04, 0x01, ...utf8('{ }')), 'FRAME_INVALID'],
    ['an oversized frame', Uint8Array.of(0x82, 0x80, 0x40), 'FRAME_TOO_LARGE'],
    ['an unknown frame type', Uint8Array.of(0x01, 0x09), 'UNKNOWN_MESSAGE'],
    ['DATA before the request', frameBytes(encodeDataFrame(Uint8Array.of(1))), 'UNEXPECTED_FRAME'],
  ]
  for (const [name, bytes, code] of framingErrors) {
    it(`keeps the stream after ${name} until the client ends it, dropping what it sends`, async () => {
      const handlers = await serviceHandlers(5_000)
      const [client, server] = await streamPair()
      let settled = false
      const handled = handlers.get(PROTOCOLS.replicaRecord)!(
        server as Stream,
        { remotePeer: peer, remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/1') } as Connection,
      )
      void Promise.resolve(handled).then(() => {
        settled = true
      })
      const fs = new FrameStream(client, { maxFrameBytes: 1_048_577, idleMs: 5_000 })
      client.send(bytes)
      const frame = await fs.read()
      expect(frame).toMatchObject({ type: 'error', error: { code } })
      // More garbage after the refusal is taken and dropped, and the stream is still not reset.
      client.send(Uint8Array.of(0xff, 0xff, 0xff, 0x01, 0x02))
      await new Promise((r) => setTimeout(r, 150))
      expect(settled).toBe(false)
      expect(server.status).toBe('open')
      await client.close()
      await handled
      expect(settled).toBe(true)
    })
  }

  it('times out a silent peer with TIMEOUT', async () => {
    const handlers = await serviceHandlers(50)
    const { frames } = await exchange(handlers, PROTOCOLS.replicaRecord, new Uint8Array(0), { close: false })
    expect(errorCodeOf(frames)).toBe('TIMEOUT')
  })

  it('answers a push that the node refuses, even with data already in flight', async () => {
    const handlers = await serviceHandlers()
    const header = {
      object_id: ID,
      version: 1,
      shard_index: 0,
      shard_id: ID,
      length: 3,
      block_size_bytes: 262144,
    }
    const bytes = frameBytes([
      ...encodeJsonFrame(header),
      ...encodeDataFrame(Uint8Array.of(1, 2, 3)),
      ...encodeEndFrame(),
    ])
    const { frames } = await exchange(handlers, PROTOCOLS.replicaPush, bytes)
    expect(errorCodeOf(frames)).toBe('INVALID_INPUT')
  })

  it('answers every random or mutated request with an answer or a typed ERROR frame, never a throw', async () => {
    const handlers = await serviceHandlers()
    const valid = json({ object_id: ID, version: 'latest' })
    const request = fc.oneof(
      fc.uint8Array({ maxLength: 48 }),
      fc
        .array(
          fc.record({ at: fc.nat({ max: valid.length - 1 }), value: fc.integer({ min: 0, max: 255 }) }),
          {
            minLength: 1,
            maxLength: 3,
          },
        )
        .map((mutations) => {
          const bytes = valid.slice()
          for (const m of mutations) bytes[m.at] = m.value
          return bytes
        }),
    )
    await fc.assert(
      fc.asyncProperty(request, async (bytes) => {
        const { frames } = await exchange(handlers, PROTOCOLS.replicaRecord, bytes)
        expect(frames.length).toBeGreaterThan(0)
        const last = frames[frames.length - 1]!
        if (last.type === 'error') expect(ANSWER_CODES).toContain(last.error.code)
        else expect(last).toMatchObject({ type: 'json', value: { record: null } })
      }),
      { seed: SEED, numRuns: 150 },
    )
  })
})
