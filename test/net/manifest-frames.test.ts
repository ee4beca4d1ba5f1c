/**
 * docs/protocol.md 4.10, `replica/manifest`: the answer is `{"manifest": null}` for a shard not held,
 * or the manifest head followed by DATA frames of the leaf hashes as raw 32-byte values in leaf order,
 * 32768 a frame, then END; receivers accept any cut. A node of another implementation reads these
 * frames, and may send them cut otherwise.
 */
import type { Connection, Stream, StreamHandler } from '@libp2p/interface'
import { streamPair } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import type { QfsError } from '../../src/core/errors.js'
import type { NodeService } from '../../src/engine/node-service.js'
import type { ShardManifestInfo } from '../../src/engine/transport.js'
import { FrameStream } from '../../src/net/frame-stream.js'
import {
  dataBytes,
  encodeDataFrame,
  encodeEndFrame,
  encodeJsonFrame,
  type Frame,
} from '../../src/net/frames.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { readManifest } from '../../src/net/replica-answers.js'
import { type Registrar, storageProtocol } from '../../src/net/service.js'

const SHARD = 'b'.repeat(64)
/** Leaf hash i: 32 bytes, each the low byte of i + 1, so order and cut points show. */
const leaf = (i: number) => ((i + 1) & 0xff).toString(16).padStart(2, '0').repeat(32)

function manifestOf(leafCount: number): ShardManifestInfo {
  return {
    object_id: 'a'.repeat(64),
    version: 1,
    shard_index: 0,
    shard_id: SHARD,
    length: leafCount * 1024,
    leaf_count: leafCount,
    merkle_root: 'c'.repeat(64),
    hash_commit: 'd'.repeat(64),
    leaf_hashes: Array.from({ length: leafCount }, (_, i) => leaf(i)),
  }
}

/** The frames a node answers a manifest request with, when its store holds `held`. */
async function served(held: ShardManifestInfo | undefined): Promise<Frame[]> {
  let handler: StreamHandler | undefined
  const registrar: Registrar = {
    handle: async (protocol, h) => {
      if (protocol === PROTOCOLS.replicaManifest) handler = h
    },
    unhandle: async () => {},
  }
  const node = { nodeId: 'stub', getManifest: async () => held } as unknown as NodeService
  await storageProtocol({ node })({ registrar }).start()
  const [client, server] = await streamPair()
  const handled = handler!(
    server as Stream,
    { remotePeer: {}, remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/1') } as Connection,
  )
  const fs = new FrameStream(client, { maxFrameBytes: 1_048_577, idleMs: 5_000 })
  await fs.writeJson({ shard_id: SHARD }, AbortSignal.timeout(5_000))
  await client.close()
  const frames: Frame[] = []
  for (;;) {
    try {
      frames.push(await fs.read())
    } catch (err) {
      expect((err as QfsError).code).toBe('STREAM_ENDED')
      break
    }
  }
  await handled
  return frames
}

describe('replica/manifest answers (docs/protocol.md 4.10)', () => {
  it('answers {"manifest": null} alone for a shard not held', async () => {
    const frames = await served(undefined)
    expect(frames.map((f) => f.type)).toEqual(['json'])
    expect(frames[0]).toMatchObject({ value: { manifest: null } })
  })

  it('sends the head, then 32768 leaf hashes a frame as raw bytes in leaf order, then END', async () => {
    const m = manifestOf(32_769)
    const frames = await served(m)
    expect(frames.map((f) => f.type)).toEqual(['json', 'data', 'data', 'end'])
    const { leaf_hashes: _, ...head } = m
    expect(frames[0]).toMatchObject({ value: { manifest: head } })
    const [first, second] = [frames[1], frames[2]].map((f) =>
      dataBytes(f as Extract<Frame, { type: 'data' }>),
    )
    expect(first!.length).toBe(32_768 * 32)
    expect(second!.length).toBe(32)
    expect(Buffer.from(first!.subarray(0, 64)).toString('hex')).toBe(leaf(0) + leaf(1))
    expect(Buffer.from(second!).toString('hex')).toBe(leaf(32_768))
  })

  it('sends no DATA frame for an empty shard (a DATA frame is never empty)', async () => {
    expect((await served(manifestOf(0))).map((f) => f.type)).toEqual(['json', 'end'])
  })

  it('reads leaf hashes however the sender cut them', async () => {
    const m = manifestOf(3)
    const bytes = Buffer.from(m.leaf_hashes.join(''), 'hex')
    for (const cuts of [[33], [1, 2, 3, 60], [95]]) {
      const [client, server] = await streamPair()
      const { leaf_hashes: _, ...head } = m
      for (const p of encodeJsonFrame({ manifest: head })) server.send(p)
      let at = 0
      for (const cut of [...cuts, bytes.length]) {
        for (const p of encodeDataFrame(bytes.subarray(at, cut))) server.send(p)
        at = cut
      }
      for (const p of encodeEndFrame()) server.send(p)
      await server.close()
      const fs = new FrameStream(client, { maxFrameBytes: 1_048_577, idleMs: 5_000 })
      const got = await readManifest(fs, AbortSignal.timeout(5_000), 16)
      expect(got?.leaf_hashes, String(cuts)).toEqual(m.leaf_hashes)
    }
  })
})
