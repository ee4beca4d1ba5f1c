import { describe, expect, it } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import type { NodeService } from '../../src/engine/node-service.js'
import type { FrameStream } from '../../src/net/frame-stream.js'
import { type Frame, MAX_DATA_BYTES } from '../../src/net/frames.js'
import { REPLICA_HANDLERS } from '../../src/net/serve-replica.js'

// replica/push and replica/fetch at the server, against a fake stream and a node that records what
// reaches it: a push cut short stages nothing, and a block that fits no frame is refused.

const OID = objectId('serve-replica', 'a')
const SHARD = shardId(OID, 1, 0)
const header = {
  object_id: OID,
  version: 1,
  shard_index: 0,
  shard_id: SHARD,
  length: 2,
  block_size_bytes: DEFAULT_PARAMS.blockSizeBytes,
}
const dataFrame = (bytes: Uint8Array): Frame =>
  ({ type: 'data', size: bytes.length, chunks: [bytes] }) as Frame

/** A stream whose client sent `request` then `frames`, and what the handler wrote to it. */
function stream(request: object, frames: Frame[]) {
  const written: unknown[] = []
  const fs = {
    readJson: async () => request,
    read: async () => frames.shift() ?? ({ type: 'end', size: 1 } as Frame),
    writeJson: async (value: unknown) => void written.push(value),
    writeData: async (bytes: Uint8Array) => void written.push(bytes),
    writeEnd: async () => void written.push('END'),
  } as unknown as FrameStream
  return { fs, written }
}

function recordingSink() {
  const log = { bytes: [] as number[], finished: 0, aborted: 0, signal: undefined as AbortSignal | undefined }
  const node = {
    openShard: async (_header: unknown, options?: { signal?: AbortSignal }) => {
      log.signal = options?.signal
      return {
        write: async (chunk: Uint8Array) => void log.bytes.push(...chunk),
        finish: async () => {
          log.finished++
          return {
            node_id: 'n',
            staging_id: 's',
            shard_id: SHARD,
            length: 2,
            leaf_count: 1,
            merkle_root: 'c'.repeat(64),
          }
        },
        abort: async () => void log.aborted++,
      }
    },
  } as unknown as NodeService
  return { node, log }
}

describe('replica/push at the server', () => {
  it("stages under the stream's signal, and a shard sent whole is finished", async () => {
    const { node, log } = recordingSink()
    const { fs, written } = stream(header, [dataFrame(Uint8Array.of(1, 2))])
    const signal = new AbortController().signal
    await REPLICA_HANDLERS.replicaPush!(node, { fs, signal })
    expect(log.signal).toBe(signal)
    expect(log).toMatchObject({ bytes: [1, 2], finished: 1, aborted: 0 })
    expect(written).toHaveLength(1)
  })

  it('takes back what it staged when a frame other than DATA or END comes, and finishes nothing', async () => {
    const { node, log } = recordingSink()
    const json: Frame = { type: 'json', size: 2, value: {} }
    const { fs, written } = stream(header, [dataFrame(Uint8Array.of(1)), json])
    await expect(
      REPLICA_HANDLERS.replicaPush!(node, { fs, signal: new AbortController().signal }),
    ).rejects.toMatchObject({
      code: 'UNEXPECTED_FRAME',
    })
    expect(log).toMatchObject({ finished: 0, aborted: 1 })
    expect(written).toEqual([])
  })
})

describe('replica/fetch at the server', () => {
  it('refuses a block larger than a DATA frame rather than split it', async () => {
    const node = {
      fetchShard: async function* () {
        yield new Uint8Array(MAX_DATA_BYTES)
        yield new Uint8Array(MAX_DATA_BYTES + 1)
      },
    } as unknown as NodeService
    const { fs, written } = stream({ shard_id: SHARD, from_block: 0 }, [])
    await expect(
      REPLICA_HANDLERS.replicaFetch!(node, { fs, signal: new AbortController().signal }),
    ).rejects.toMatchObject({
      code: 'FRAME_TOO_LARGE',
    })
    expect(written.map((w) => (w as Uint8Array).length)).toEqual([MAX_DATA_BYTES])
  })
})
