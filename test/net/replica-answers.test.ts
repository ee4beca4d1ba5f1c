import { streamPair } from '@libp2p/utils'
import { describe, expect, it } from 'vitest'
import type { VersionRecord } from '../../src/core/record.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import { FrameStream } from '../../src/net/frame-stream.js'
import { encodeDataFrame, encodeEndFrame, encodeJsonFrame, type JsonObject } from '../../src/net/frames.js'
import { readBlocks, readManifest, readRecords } from '../../src/net/replica-answers.js'
import { buildVersion, TEST_PARAMS, testObjectId } from '../store/helpers.js'

// The answers of replica/manifest, replica/fetch and replica/list as the calling end reads them,
// each from a peer that sends exactly the frames given and closes its end.

/** The calling end of a stream whose peer sent `parts` and closed. */
async function answered(parts: Uint8Array[][]): Promise<FrameStream> {
  const [client, server] = await streamPair()
  for (const part of parts.flat()) server.send(part)
  await server.close()
  return new FrameStream(client, { maxFrameBytes: 1_048_577, idleMs: 5_000 })
}

const head = (leafCount: number): JsonObject => ({
  manifest: {
    object_id: 'a'.repeat(64),
    version: 1,
    shard_index: 0,
    shard_id: 'b'.repeat(64),
    length: leafCount * 4096,
    leaf_count: leafCount,
    merkle_root: 'c'.repeat(64),
    hash_commit: 'd'.repeat(64),
  },
})

const manifest = async (leafCount: number, leafBytes: number, maxLeaves = 16) =>
  readManifest(
    await answered([
      encodeJsonFrame(head(leafCount)),
      encodeDataFrame(new Uint8Array(leafBytes)),
      encodeEndFrame(),
    ]),
    AbortSignal.timeout(5_000),
    maxLeaves,
  )

describe('readManifest', () => {
  it('takes exactly the leaf hashes announced', async () => {
    expect((await manifest(2, 64))?.leaf_hashes).toEqual(['00'.repeat(32), '00'.repeat(32)])
  })

  it('refuses fewer leaf hashes than announced, or a piece of one left over', async () => {
    await expect(manifest(2, 32)).rejects.toMatchObject({ code: 'FRAME_INVALID' })
    await expect(manifest(1, 33)).rejects.toMatchObject({ code: 'FRAME_INVALID' })
  })

  it('refuses more leaf hashes than announced at the frame that carries them, not at the end', async () => {
    // The peer keeps its end open: the refusal must not wait for END or the idle timeout.
    const [client, server] = await streamPair()
    for (const part of [encodeJsonFrame(head(1)), encodeDataFrame(new Uint8Array(64))].flat())
      server.send(part)
    const fs = new FrameStream(client, { maxFrameBytes: 1_048_577, idleMs: 60_000 })
    const read = readManifest(fs, AbortSignal.timeout(2_000), 16)
    await expect(read).rejects.toMatchObject({ code: 'FRAME_INVALID' })
    fs.abort(new Error('test over'))
  })

  it('refuses a manifest that announces more leaves than the largest shard has', async () => {
    await expect(manifest(17, 17 * 32, 16)).rejects.toMatchObject({ code: 'FRAME_INVALID' })
    expect((await manifest(16, 16 * 32, 16))?.leaf_hashes).toHaveLength(16)
  })
})

describe('readBlocks', () => {
  it('fails as the node failing (NODE_UNAVAILABLE) on a JSON frame among the blocks', async () => {
    const fs = await answered([encodeDataFrame(Uint8Array.of(1)), encodeJsonFrame({ more: 1 })])
    const blocks: Uint8Array[] = []
    const read = (async () => {
      for await (const block of readBlocks(fs, 'peer', 'b'.repeat(64), 0, undefined)) blocks.push(block)
    })()
    await expect(read).rejects.toBeInstanceOf(NodeUnavailableError)
    expect(blocks).toEqual([Uint8Array.of(1)])
  })
})

describe('readRecords', () => {
  // In the catalogue's order (object id bytes, then version), as a node sends them: sorted here by
  // the ids' hex, whose order is their bytes' order.
  const records = [1, 2, 3]
    .map(
      (i) =>
        buildVersion({ objectId: testObjectId(`answers-${i}`), version: 1, content: new Uint8Array(i) })
          .record,
    )
    .sort((a, b) => (a.object_id < b.object_id ? -1 : 1))
  const page = async (sent: readonly VersionRecord[], limit = 10) =>
    readRecords(
      await answered([...sent.map((r) => encodeJsonFrame(r as unknown as JsonObject)), encodeEndFrame()]),
      AbortSignal.timeout(5_000),
      { limit, maxBytes: 1 << 20 },
      TEST_PARAMS,
    )

  it('takes up to the records asked for, and refuses one more', async () => {
    expect(await page(records, 3)).toEqual(records)
    await expect(page(records, 2)).rejects.toMatchObject({ code: 'FRAME_INVALID' })
  })

  it('takes versions of one object in ascending order', async () => {
    const oid = testObjectId('answers-versions')
    const versions = [1, 2, 3].map(
      (v) =>
        buildVersion({
          objectId: oid,
          version: v,
          kind: v === 1 ? 'STORE' : 'UPDATE',
          content: new Uint8Array(v),
        }).record,
    )
    expect(await page(versions)).toEqual(versions)
    await expect(page([versions[0]!, versions[2]!, versions[1]!])).rejects.toMatchObject({
      code: 'FRAME_INVALID',
      message: expect.stringContaining(`${oid} v2 does not follow ${oid} v3`),
    })
  })

  it('refuses a page that repeats a record or goes back (a node counted once per record, docs/protocol.md 4.13)', async () => {
    const [a, b, c] = records
    for (const sent of [
      [a!, a!],
      [a!, b!, b!],
      [b!, a!],
      [a!, c!, b!],
    ]) {
      await expect(page(sent)).rejects.toMatchObject({ code: 'FRAME_INVALID' })
    }
  })
})
