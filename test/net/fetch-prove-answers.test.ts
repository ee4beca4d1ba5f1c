/**
 * docs/protocol.md 4.11 (`replica/fetch`), its one-block form on the replica channel (4.14), and 4.12
 * (`replica/prove`): the blocks of a shard from `from_block` on, each whole in its own DATA frame,
 * then END; a `from_block` or `leaf_index` past the end is INVALID_INPUT and a shard the node does not
 * hold NOT_FOUND, as an ERROR frame on the stream and as an `ok: false` reply on the channel; block 0
 * of an empty shard is END alone on the stream and `{"blocks": 0}` on the channel, and cannot be
 * proved (EMPTY_SHARD). Asked of a real node's store by another eligible node, with the written
 * content and an RFC 9162 oracle as what the answers must match.
 */
import type { Libp2p } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { verifyStorageProof } from '../../src/core/proof.js'
import { shardRanges } from '../../src/core/shards.js'
import type { StoreSuccess } from '../../src/engine/responses.js'
import { FrameStream } from '../../src/net/frame-stream.js'
import {
  dataBytes,
  encodeJsonFrame,
  type Frame,
  type JsonObject,
  MAX_FRAME_BYTES,
} from '../../src/net/frames.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { oracleLeafHash, oraclePath, oracleRoot } from '../helpers/rfc9162.js'
import { drainFrames, type Libp2pNetwork, libp2pHarness } from './harness.js'

const BLOCK = DEFAULT_PARAMS.blockSizeBytes
const META = { author_node_id: 'fetch-test', created_at_tick: 1 }

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b))

describe('replica/fetch answers (docs/protocol.md 4.11, 4.14)', () => {
  let net: Libp2pNetwork
  /** Three blocks a shard: two whole, one of 10 bytes. */
  const content = Uint8Array.from({ length: 4 * (2 * BLOCK + 10) }, (_, i) => (i * 7 + (i >> 12)) & 0xff)
  const full = objectId('fetch', 'three-blocks')
  const empty = objectId('fetch', 'empty')
  let holder: Libp2p
  let asker: Libp2p
  let emptyHolder: Libp2p

  const ask = async (from: Libp2p, to: Libp2p, protocol: string, request: JsonObject) => {
    const stream = await from.dialProtocol(to.getMultiaddrs(), protocol)
    const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, idleMs: 5_000 })
    await fs.write(encodeJsonFrame(request))
    if (protocol !== PROTOCOLS.replicaRpc) await stream.close()
    return fs
  }
  const fetch = async (shard: string, fromBlock: number, to = holder) =>
    drainFrames(await ask(asker, to, PROTOCOLS.replicaFetch, { shard_id: shard, from_block: fromBlock }))
  const rpcFetch = async (shard: string, fromBlock: number, to = holder) => {
    const fs = await ask(asker, to, PROTOCOLS.replicaRpc, {
      id: 7,
      op: 'fetch',
      body: { shard_id: shard, from_block: fromBlock },
    })
    const reply = await fs.read(AbortSignal.timeout(5_000))
    const data =
      reply.type === 'json' && reply.value.data === true
        ? await fs.read(AbortSignal.timeout(5_000))
        : undefined
    fs.abort(new Error('test done'))
    return { reply: reply.type === 'json' ? reply.value : reply, data }
  }

  beforeAll(async () => {
    net = await libp2pHarness(4)
    const writer = net.engine(net.nodeIds[0]!)
    const put = (await writer.putContent(full, 1, content, META)) as StoreSuccess
    const putEmpty = (await writer.putContent(empty, 1, new Uint8Array(0), META)) as StoreSuccess
    expect([put.ok, putEmpty.ok]).toEqual([true, true])
    const [first] = put.replica_sets[shardId(full, 1, 0)]!
    holder = net.libp2p.get(first!)!
    asker = net.libp2p.get(net.nodeIds.find((id) => id !== first)!)!
    emptyHolder = net.libp2p.get(putEmpty.replica_sets[shardId(empty, 1, 0)]![0]!)!
  })
  afterAll(async () => {
    await net?.close()
  })

  const shard0 = () => {
    const r = shardRanges(content.length, DEFAULT_PARAMS)[0]!
    return content.subarray(r.start, r.end)
  }

  it('sends each block from from_block on whole, one DATA frame each, then END', async () => {
    const bytes = shard0()
    expect(bytes.length).toBe(2 * BLOCK + 10)
    for (const from of [0, 1, 2]) {
      const { frames, end } = await fetch(shardId(full, 1, 0), from)
      expect(frames.map((f) => f.type)).toEqual([...Array(3 - from).fill('data'), 'end'])
      frames.slice(0, -1).forEach((f, i) => {
        const at = (from + i) * BLOCK
        expect(same(dataBytes(f as Extract<Frame, { type: 'data' }>), bytes.subarray(at, at + BLOCK))).toBe(
          true,
        )
      })
      expect(end).toBe('STREAM_ENDED')
    }
  })

  it('answers a from_block past the end INVALID_INPUT and a shard not held NOT_FOUND, as ERROR frames', async () => {
    for (const [shard, from, code] of [
      [shardId(full, 1, 0), 3, 'INVALID_INPUT'],
      [shardId(full, 1, 0), 2 ** 53 - 1, 'INVALID_INPUT'],
      [shardId(full, 9, 0), 0, 'NOT_FOUND'],
    ] as const) {
      const { frames } = await fetch(shard, from)
      expect(frames, `${from}`).toEqual([
        expect.objectContaining({ type: 'error', error: expect.objectContaining({ code }) }),
      ])
    }
  })

  it('answers block 0 of an empty shard with END alone', async () => {
    const { frames } = await fetch(shardId(empty, 1, 0), 0, emptyHolder)
    expect(frames.map((f) => f.type)).toEqual(['end'])
  })

  it('on the replica channel: one block whole, {"blocks": 0} for an empty shard, the same codes as ok: false', async () => {
    const last = await rpcFetch(shardId(full, 1, 0), 2)
    expect(last.reply).toEqual({ id: 7, ok: true, body: { blocks: 1 }, data: true })
    expect(same(dataBytes(last.data as Extract<Frame, { type: 'data' }>), shard0().subarray(2 * BLOCK))).toBe(
      true,
    )
    expect((await rpcFetch(shardId(empty, 1, 0), 0, emptyHolder)).reply).toEqual({
      id: 7,
      ok: true,
      body: { blocks: 0 },
      data: false,
    })
    expect((await rpcFetch(shardId(full, 1, 0), 3)).reply).toMatchObject({
      id: 7,
      ok: false,
      error: { code: 'INVALID_INPUT' },
    })
    expect((await rpcFetch(shardId(full, 9, 0), 0)).reply).toMatchObject({
      id: 7,
      ok: false,
      error: { code: 'NOT_FOUND' },
    })
  })

  it('replica/prove (4.12): {"proof"} for a block, verifying against the RFC 9162 root of the written bytes', async () => {
    const bytes = shard0()
    const blocks = [0, 1, 2].map((i) => bytes.subarray(i * BLOCK, (i + 1) * BLOCK))
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
    const { frames } = await drainFrames(
      await ask(asker, holder, PROTOCOLS.replicaProve, { shard_id: shardId(full, 1, 0), leaf_index: 1 }),
    )
    expect(frames.map((f) => f.type)).toEqual(['json'])
    const proof = (frames[0] as Extract<Frame, { type: 'json' }>).value.proof as Record<string, unknown>
    expect(
      verifyStorageProof(proof, {
        merkleRoot: hex(oracleRoot(blocks.map(oracleLeafHash))),
        leafIndex: 1,
        leafCount: 3,
      }),
    ).toEqual({ ok: true })
    expect(proof).toMatchObject({
      leaf_index: 1,
      leaf_count: 3,
      block: Buffer.from(blocks[1]!).toString('base64'),
      leaf_hash: hex(oracleLeafHash(blocks[1]!)),
      audit_path: oraclePath(1, blocks.map(oracleLeafHash)).map(hex),
    })
  })

  it('replica/prove refuses a leaf past the end INVALID_INPUT, a shard not held NOT_FOUND, an empty shard EMPTY_SHARD', async () => {
    for (const [shard, leaf, to, code] of [
      [shardId(full, 1, 0), 3, holder, 'INVALID_INPUT'],
      [shardId(full, 9, 0), 0, holder, 'NOT_FOUND'],
      [shardId(empty, 1, 0), 0, emptyHolder, 'EMPTY_SHARD'],
    ] as const) {
      const { frames } = await drainFrames(
        await ask(asker, to, PROTOCOLS.replicaProve, { shard_id: shard, leaf_index: leaf }),
      )
      expect(frames, code).toEqual([
        expect.objectContaining({ type: 'error', error: expect.objectContaining({ code }) }),
      ])
    }
  })
})
