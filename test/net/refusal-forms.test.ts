/**
 * docs/protocol.md section 4, "ERROR frame or Failure answer": a public call the engine never saw is
 * refused with an ERROR frame, nothing logged (a request of the wrong shape; a delete marker's frames,
 * read before the engine runs); one it checked is a Failure `{"ok": false, ...}` carrying the
 * `storage_event_id` of the event that logs it: bad ids, versions, metadata and filters, and, once a
 * write with content has its request accepted, every fault in the content (a framing error keeps its
 * code, a JSON frame among the DATA is UNEXPECTED_FRAME, a wrong byte count INVALID_INPUT, a stream
 * ending before END STREAM_ENDED). A client in another language tells the two forms apart by the
 * frame type, so each case is sent as raw frames from a key-less client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { QfsError } from '../../src/core/errors.js'
import { objectId, shardId } from '../../src/core/ids.js'
import { FrameStream } from '../../src/net/frame-stream.js'
import {
  encodeDataFrame,
  encodeEndFrame,
  encodeJsonFrame,
  type Frame,
  type JsonObject,
  MAX_FRAME_BYTES,
} from '../../src/net/frames.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { type Libp2pNetwork, libp2pHarness } from './harness.js'

const META = { author_node_id: 'forms', created_at_tick: 3 }
const ID = objectId('refusal-forms', 'one')
/** Written before the tests: a proof's leaf index is checked against its record. */
const STORED = objectId('refusal-forms', 'stored')
const write = (extra: Record<string, unknown> = {}): JsonObject => ({
  object_id: ID,
  version: 1,
  content_size: 3,
  metadata: META,
  ...extra,
})
const data = (...bytes: number[]) => encodeDataFrame(Uint8Array.from(bytes))
const end = () => encodeEndFrame()
/** A frame of type `type` with `body`, for frames our encoder would not write. */
const rawFrame = (type: number, body: number[] = []) => [Uint8Array.of(body.length + 1, type, ...body)]

describe('ERROR frame or Failure answer (docs/protocol.md section 4)', () => {
  let net: Libp2pNetwork

  /** Sends `frames` on a fresh stream of `protocol` from a client outside the eligible set, then FIN. */
  async function exchange(protocol: string, frames: Uint8Array[][]): Promise<Frame[]> {
    const node = net.libp2p.get(net.nodeIds[0]!)!
    const stream = await net.outsider.dialProtocol(node.getMultiaddrs(), protocol)
    for (const part of frames.flat()) stream.send(part)
    await stream.close()
    const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, idleMs: 5_000 })
    const got: Frame[] = []
    for (;;) {
      try {
        got.push(await fs.read(AbortSignal.timeout(8_000)))
      } catch (err) {
        expect(err).toBeInstanceOf(QfsError)
        return got
      }
    }
  }

  /** The one answer is an ERROR frame with `code`. */
  const errorFrame = (frames: Frame[], code: string) =>
    expect(frames).toEqual([
      expect.objectContaining({ type: 'error', error: expect.objectContaining({ code }) }),
    ])
  /** The one answer is a Failure with `code`, logged (its storage_event_id an id). */
  const logged = (frames: Frame[], code: string) => {
    expect(frames).toHaveLength(1)
    expect(frames[0]).toMatchObject({ type: 'json', value: { ok: false, code } })
    const value = (frames[0] as Extract<Frame, { type: 'json' }>).value
    expect(value.storage_event_id).toMatch(/^[0-9a-f]{64}$/)
  }

  beforeAll(async () => {
    net = await libp2pHarness(4)
    const put = await net.engine(net.nodeIds[1]!).putContent(STORED, 1, new Uint8Array(8), META)
    expect(put.ok).toBe(true)
  })
  afterAll(async () => {
    await net?.close()
  })

  describe('a request of the wrong shape: an ERROR frame', () => {
    it.each<[string, string, JsonObject]>([
      ['write without metadata', PROTOCOLS.write, { object_id: ID, version: 1, content_size: 0 }],
      ['write with an unknown field', PROTOCOLS.write, write({ extra: 1 })],
      ['write whose version is a string', PROTOCOLS.write, write({ version: '1' })],
      ['write whose object_id is a number', PROTOCOLS.write, write({ object_id: 7 })],
      ['write whose content_size is a fraction', PROTOCOLS.write, write({ content_size: 1.5 })],
      ['write whose kind is STORE', PROTOCOLS.write, write({ kind: 'STORE' })],
      ['a delete marker with content_size 3', PROTOCOLS.write, write({ kind: 'DELETE_MARKER' })],
      ['read whose version is a string', PROTOCOLS.read, { object_id: ID, version: '1' }],
      ['get_proof without shard_id', PROTOCOLS.getProof, { object_id: ID, version: 1 }],
      ['list_objects whose filters are an array', PROTOCOLS.listObjects, { filters: [] }],
      ['list_objects whose epoch is negative', PROTOCOLS.listObjects, { epoch: -1 }],
    ])('%s: INVALID_INPUT', async (_what, protocol, request) => {
      errorFrame(await exchange(protocol, [encodeJsonFrame(request), end()]), 'INVALID_INPUT')
    })

    it('a content_size above the node limit: CONTENT_TOO_LARGE', async () => {
      errorFrame(
        await exchange(PROTOCOLS.write, [encodeJsonFrame(write({ content_size: 64 * 1024 ** 3 + 1 }))]),
        'CONTENT_TOO_LARGE',
      )
    })
  })

  describe('what the engine checks: a logged Failure', () => {
    it.each<[string, string, JsonObject, string]>([
      [
        'write of an id that is not hex',
        PROTOCOLS.write,
        write({ object_id: 'x', content_size: 0 }),
        'INVALID_INPUT',
      ],
      ['write of version 0', PROTOCOLS.write, write({ version: 0, content_size: 0 }), 'INVALID_INPUT'],
      [
        'write whose metadata is not an object',
        PROTOCOLS.write,
        write({ metadata: 5, content_size: 0 }),
        'INVALID_METADATA',
      ],
      [
        'write of an unknown epoch',
        PROTOCOLS.write,
        write({ epoch: 99, content_size: 0 }),
        'AEGIS_CONTEXT_MISSING',
      ],
      ['read of version 1.5', PROTOCOLS.read, { object_id: ID, version: 1.5 }, 'INVALID_INPUT'],
      ['read of a version not written', PROTOCOLS.read, { object_id: ID, version: 7 }, 'NOT_FOUND'],
      [
        'get_proof of leaf 2^53',
        PROTOCOLS.getProof,
        { object_id: STORED, version: 1, shard_id: shardId(STORED, 1, 0), leaf_index: 2 ** 53 },
        'INVALID_INPUT',
      ],
      [
        'get_proof of leaf 2^53 of a version not written (looked up first)',
        PROTOCOLS.getProof,
        { object_id: ID, version: 1, shard_id: shardId(ID, 1, 0), leaf_index: 2 ** 53 },
        'NOT_FOUND',
      ],
      [
        'get_proof naming an unknown epoch',
        PROTOCOLS.getProof,
        { object_id: STORED, version: 1, shard_id: shardId(STORED, 1, 0), epoch: 99 },
        'AEGIS_CONTEXT_MISSING',
      ],
      ['list_objects naming an unknown epoch', PROTOCOLS.listObjects, { epoch: 99 }, 'AEGIS_CONTEXT_MISSING'],
      ['list_objects of limit 0', PROTOCOLS.listObjects, { filters: { limit: 0 } }, 'INVALID_INPUT'],
      [
        'list_objects with an unknown filter',
        PROTOCOLS.listObjects,
        { filters: { colour: 'red' } },
        'INVALID_INPUT',
      ],
    ])('%s: %s', async (_what, protocol, request, code) => {
      const frames = [encodeJsonFrame(request)]
      if (protocol === PROTOCOLS.write) frames.push(end())
      logged(await exchange(protocol, frames), code)
    })
  })

  describe('a fault in the content of an accepted write: a logged Failure', () => {
    it.each<[string, Uint8Array[][], string]>([
      ['fewer bytes than content_size', [data(1, 2), end()], 'INVALID_INPUT'],
      ['more bytes than content_size', [data(1, 2, 3, 4), end()], 'INVALID_INPUT'],
      ['a JSON frame among the DATA', [data(1), encodeJsonFrame({ a: 1 })], 'UNEXPECTED_FRAME'],
      ['an empty DATA frame', [data(1), rawFrame(0x02)], 'FRAME_INVALID'],
      ['a frame of type 0x09', [data(1), rawFrame(0x09, [0])], 'UNKNOWN_MESSAGE'],
      ['a KEEPALIVE (replica/push only)', [data(1), rawFrame(0x05)], 'UNKNOWN_MESSAGE'],
      ['the stream ending before END', [data(1, 2, 3)], 'STREAM_ENDED'],
    ])('%s: %s', async (what, content, code) => {
      const oid = objectId('refusal-forms', what)
      logged(await exchange(PROTOCOLS.write, [encodeJsonFrame(write({ object_id: oid })), ...content]), code)
    })
  })

  describe("a delete marker's frames, read before the engine runs: an ERROR frame", () => {
    const marker = () => encodeJsonFrame(write({ kind: 'DELETE_MARKER', content_size: 0 }))
    it('DATA after its request: UNEXPECTED_FRAME', async () => {
      errorFrame(await exchange(PROTOCOLS.write, [marker(), data(1), end()]), 'UNEXPECTED_FRAME')
    })
    it('a stream that ends before END: STREAM_ENDED', async () => {
      errorFrame(await exchange(PROTOCOLS.write, [marker()]), 'STREAM_ENDED')
    })
  })
})
