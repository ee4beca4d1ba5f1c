/**
 * docs/protocol.md 4.6, `replica/push`: a ShardHeader whose `shard_id` follows the formula and whose
 * `block_size_bytes` is the governed one, then DATA totalling exactly `length`, then END, is answered
 * with a StagedShardInfo rooted by the replica itself; a header off the formula or the governed block
 * size is refused (INVALID_INPUT) before any DATA, on the stream and in a `stage` on the channel (4.14).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { QfsError } from '../../src/core/errors.js'
import { objectId, shardId } from '../../src/core/ids.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
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
import { oracleLeafHash } from '../helpers/rfc9162.js'
import { type Libp2pNetwork, libp2pHarness } from './harness.js'

const OID = objectId('push-header', 'doc')
const header = (extra: Record<string, unknown> = {}): JsonObject => ({
  object_id: OID,
  version: 1,
  shard_index: 0,
  shard_id: shardId(OID, 1, 0),
  length: 3,
  block_size_bytes: DEFAULT_PARAMS.blockSizeBytes,
  ...extra,
})
const ABC = Uint8Array.of(97, 98, 99)

describe('replica/push headers (docs/protocol.md 4.6)', () => {
  let net: Libp2pNetwork
  let target: string
  let asker: string

  async function exchange(protocol: string, frames: Uint8Array[][], close = true): Promise<Frame[]> {
    const stream = await net.libp2p
      .get(asker)!
      .dialProtocol(net.libp2p.get(target)!.getMultiaddrs(), protocol)
    for (const part of frames.flat()) stream.send(part)
    if (close) await stream.close()
    const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, idleMs: 5_000 })
    const got: Frame[] = []
    for (;;) {
      try {
        got.push(await fs.read(AbortSignal.timeout(5_000)))
        if (!close) break
      } catch (err) {
        expect(err).toBeInstanceOf(QfsError)
        break
      }
    }
    fs.abort(new Error('test done'))
    return got
  }

  beforeAll(async () => {
    net = await libp2pHarness(4)
    ;[target, asker] = net.nodeIds as [string, string]
  })
  afterAll(async () => {
    await net?.close()
  })

  it('stages a shard and answers a StagedShardInfo with its own root', async () => {
    const frames = await exchange(PROTOCOLS.replicaPush, [
      encodeJsonFrame(header()),
      encodeDataFrame(ABC.subarray(0, 1)),
      encodeDataFrame(ABC.subarray(1)),
      encodeEndFrame(),
    ])
    expect(frames).toHaveLength(1)
    const info = (frames[0] as Extract<Frame, { type: 'json' }>).value
    expect(Object.keys(info).sort()).toEqual([
      'leaf_count',
      'length',
      'merkle_root',
      'node_id',
      'shard_id',
      'staging_id',
    ])
    expect(info).toMatchObject({
      node_id: target,
      shard_id: shardId(OID, 1, 0),
      length: 3,
      leaf_count: 1,
      merkle_root: Buffer.from(oracleLeafHash(ABC)).toString('hex'),
    })
    expect(
      typeof info.staging_id === 'string' && info.staging_id.length >= 1 && info.staging_id.length <= 128,
    ).toBe(true)
  })

  it.each<[string, JsonObject]>([
    ['a block size other than the governed one', header({ block_size_bytes: 1024 })],
    ['a shard_id of another shard', header({ shard_id: shardId(OID, 1, 1) })],
    ['a shard_id of another version', header({ shard_id: shardId(OID, 2, 0) })],
    ['a shard index past the shard count', header({ shard_index: 4, shard_id: shardId(OID, 1, 4) })],
  ])('refuses %s before any DATA: INVALID_INPUT, on the stream and in a stage', async (_what, bad) => {
    // The header alone, the stream left open: the answer must not wait for DATA or END.
    const pushed = await exchange(PROTOCOLS.replicaPush, [encodeJsonFrame(bad)], false)
    expect(pushed).toEqual([
      expect.objectContaining({ type: 'error', error: expect.objectContaining({ code: 'INVALID_INPUT' }) }),
    ])
    const staged = await exchange(
      PROTOCOLS.replicaRpc,
      [encodeJsonFrame({ id: 1, op: 'stage', body: { shards: [bad] } }), encodeDataFrame(ABC)],
      false,
    )
    expect(staged).toEqual([
      expect.objectContaining({
        type: 'json',
        value: expect.objectContaining({
          id: 1,
          ok: false,
          error: expect.objectContaining({ code: 'INVALID_INPUT' }),
        }),
      }),
    ])
  })
})
