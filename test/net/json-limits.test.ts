import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { Connection, PeerId, Stream, StreamHandler } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { streamPair } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { utf8 } from '../../src/core/bytes.js'
import type { NodeService } from '../../src/engine/node-service.js'
import { FrameStream } from '../../src/net/frame-stream.js'
import {
  checkJsonDepth,
  encodeDataFrame,
  encodeJsonFrame,
  encodeVarint,
  FRAME_JSON,
  type Frame,
  FrameDecoder,
  frameBytes,
  MAX_DATA_BYTES,
  MAX_FRAME_BYTES,
  MAX_JSON_DEPTH,
  MAX_REQUEST_JSON_FRAME_BYTES,
} from '../../src/net/frames.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { type Registrar, storageProtocol } from '../../src/net/service.js'

const SEED = 0x5eed_de97

/** A JSON frame from raw text (canonical or not: the depth check runs before the canonical one). */
function jsonFrame(text: string): Uint8Array {
  const body = utf8(text)
  return Uint8Array.from([...encodeVarint(body.length + 1), FRAME_JSON, ...body])
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run()
  } catch (err) {
    return (err as { code?: string }).code
  }
  return undefined
}

/** Independent oracle: nesting depth of the parsed value (an array or object is one level). */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0
  const children = Array.isArray(value) ? value : Object.values(value)
  return 1 + Math.max(0, ...children.map(depthOf))
}

describe('JSON nesting depth on the wire', () => {
  it('refuses a frame nested far deeper than any message, before parsing it', () => {
    const depth = 1000
    const frame = jsonFrame(`{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`)
    expect(codeOf(() => new FrameDecoder().push(frame))).toBe('FRAME_INVALID')
    // Unbalanced, so JSON.parse would refuse it too: the scan must refuse it first, by depth.
    expect(() => checkJsonDepth(utf8(`{"a":${'['.repeat(depth)}`))).toThrow(/deeper than 32/)
  })

  it('accepts exactly MAX_JSON_DEPTH levels and refuses one more', () => {
    const nested = (levels: number) => `${'{"a":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}`
    const ok = new FrameDecoder().push(jsonFrame(nested(MAX_JSON_DEPTH)))
    expect(ok[0]?.type).toBe('json')
    expect(codeOf(() => new FrameDecoder().push(jsonFrame(nested(MAX_JSON_DEPTH + 1))))).toBe('FRAME_INVALID')
  })

  it('does not count brackets inside strings, escaped quotes included', () => {
    const tricky = JSON.stringify({ a: `${'['.repeat(100)}\\"{{{\\\\`, b: '\u00e9]]]}}}' })
    expect(() => checkJsonDepth(utf8(tricky))).not.toThrow()
    expect(new FrameDecoder().push(jsonFrame(tricky))[0]?.type).toBe('json')
  })

  it('agrees with the depth of the parsed value (property)', () => {
    const text = fc.string({ unit: fc.constantFrom('[', ']', '{', '}', '"', '\\', 'a', 'é', '\u2028') })
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', maxDepth: 40 },
        text,
        fc.integer(),
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(text, tie('node'), { maxKeys: 3 }),
      ),
    })).node
    fc.assert(
      fc.property(value, (v) => {
        const bytes = utf8(JSON.stringify(v))
        const refused = codeOf(() => checkJsonDepth(bytes)) === 'FRAME_INVALID'
        expect(refused).toBe(depthOf(v) > MAX_JSON_DEPTH)
      }),
      { seed: SEED, numRuns: 300 },
    )
  })
})

describe('JSON request frame size', () => {
  const request = () => new FrameDecoder(MAX_FRAME_BYTES, MAX_REQUEST_JSON_FRAME_BYTES)

  it('refuses an oversized JSON frame from its prefix and type byte, before its body arrives', () => {
    const announced = Uint8Array.from([...encodeVarint(MAX_REQUEST_JSON_FRAME_BYTES + 1), FRAME_JSON])
    expect(codeOf(() => request().push(announced))).toBe('FRAME_TOO_LARGE')
    // The prefix alone says nothing yet about the type.
    const d = request()
    expect(d.push(encodeVarint(MAX_REQUEST_JSON_FRAME_BYTES + 1))).toEqual([])
    expect(codeOf(() => d.push(Uint8Array.of(FRAME_JSON)))).toBe('FRAME_TOO_LARGE')
  })

  it('keeps accepting DATA frames of 1 MiB and JSON at the limit', () => {
    const data = frameBytes(encodeDataFrame(new Uint8Array(MAX_DATA_BYTES).fill(7)))
    expect(request().push(data)[0]?.size).toBe(MAX_FRAME_BYTES)
    const filler = 'x'.repeat(MAX_REQUEST_JSON_FRAME_BYTES - 1 - '{"a":""}'.length)
    const atLimit = frameBytes(encodeJsonFrame({ a: filler }))
    expect(request().push(atLimit)[0]?.size).toBe(MAX_REQUEST_JSON_FRAME_BYTES)
    // Answers are read without the request bound: a base64 block of 512 KiB still fits.
    const answer = frameBytes(encodeJsonFrame({ a: 'y'.repeat(700 * 1024) }))
    expect(new FrameDecoder().push(answer)[0]?.type).toBe('json')
  })
})

describe('a server applies both bounds to requests', () => {
  let peer: PeerId
  const handlers = new Map<string, StreamHandler>()
  const aborted: string[][] = []

  beforeAll(async () => {
    peer = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(1)))
    const registrar: Registrar = {
      handle: async (protocol, handler) => {
        handlers.set(protocol, handler)
      },
      unhandle: async (protocol) => {
        handlers.delete(protocol)
      },
    }
    const node = {
      nodeId: 'stub',
      abortStaging: async (ids: string[]) => {
        aborted.push(ids)
      },
      getRecord: async () => undefined,
    } as unknown as NodeService
    const service = storageProtocol({
      node,
      isEligiblePeer: (id) => id === peer.toString(),
      limits: { idleTimeoutMs: 2_000, requestTimeoutMs: 5_000 },
    })({ registrar })
    await service.start()
  })

  async function exchange(protocol: string, bytes: Uint8Array): Promise<Frame[]> {
    const [client, server] = await streamPair()
    const handled = handlers.get(protocol)!(
      server as Stream,
      { remotePeer: peer, remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/1') } as Connection,
    )
    const fs = new FrameStream(client, { maxFrameBytes: MAX_FRAME_BYTES, idleMs: 5_000 })
    client.send(bytes)
    await client.close()
    const frames: Frame[] = []
    for (;;) {
      try {
        frames.push(await fs.read())
      } catch {
        // The end of the answer: the server closed, or reset after its ERROR frame.
        break
      }
    }
    await handled
    return frames
  }

  it('serves the largest abort our nodes send (1024 staging ids)', async () => {
    const ids = Array.from({ length: 1024 }, (_, i) => i.toString(16).padStart(32, '0'))
    const frames = await exchange(PROTOCOLS.replicaAbort, frameBytes(encodeJsonFrame({ staging_ids: ids })))
    expect(frames.map((f) => f.type)).toEqual(['json'])
    expect(aborted.at(-1)).toEqual(ids)
  })

  it('refuses a request above 256 KiB with FRAME_TOO_LARGE', async () => {
    // Refused from its prefix and type byte: the 256 KiB of body need not be sent, nor read.
    const big = frameBytes(
      encodeJsonFrame({ object_id: 'z'.repeat(MAX_REQUEST_JSON_FRAME_BYTES), version: 1 }),
    )
    const frames = await exchange(PROTOCOLS.replicaRecord, big.subarray(0, 64))
    const last = frames.at(-1)
    expect(last?.type === 'error' ? last.error.code : last?.type).toBe('FRAME_TOO_LARGE')
  })

  it('refuses a deeply nested request with FRAME_INVALID', async () => {
    const frames = await exchange(
      PROTOCOLS.replicaRecord,
      jsonFrame(`{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`),
    )
    const last = frames.at(-1)
    expect(last?.type === 'error' ? last.error.code : last?.type).toBe('FRAME_INVALID')
  })
})
