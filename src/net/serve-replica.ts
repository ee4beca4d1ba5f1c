import { fromHex } from '../core/bytes.js'
import type { NodeService } from '../engine/node-service.js'
import type { ShardSink } from '../engine/transport.js'
import { FrameTooLargeError } from './errors.js'
import { unexpected } from './frame-reader.js'
import type { FrameStream } from './frame-stream.js'
import { type JsonObject, MAX_DATA_BYTES } from './frames.js'
import {
  LEAF_HASHES_PER_FRAME,
  manifestHead,
  parseAbortRequest,
  parseCommitRequest,
  parseFetchRequest,
  parseListRequest,
  parseProveRequest,
  parseRecordRequest,
  parseShardHeader,
  parseShardIdRequest,
} from './messages.js'
import type { ProtocolName } from './protocols.js'
import { serveRpc } from './serve-rpc.js'

/** One accepted stream: its frames, and a signal that fires if the stream fails or outlives its deadline. */
export interface Exchange {
  fs: FrameStream
  signal: AbortSignal
  /** Fires when the node stops: a long-lived exchange (the replica channel) stops taking requests. */
  draining?: AbortSignal
  /** Deadline of one request inside a long-lived exchange, as the small protocols have per stream. */
  requestTimeoutMs?: number
  /** Whether the peer is still in the eligible set, asked again per request of a long-lived exchange. */
  stillEligible?: () => boolean
  /** The client's network address (its IP), by which public slots are shared out under contention. */
  source?: string
  /** Told once a public request has been read and parsed: a refusal before that drains only briefly. */
  onRequest?: () => void
  /** The epoch snapshots the node serves its peers (replica/rpc `snapshot`); none without. */
  snapshots?: SnapshotSource
}

/**
 * The signed epoch snapshots a node holds (its SnapshotMembership), each as the JSON object it was
 * signed as; undefined for an epoch it does not hold.
 */
export interface SnapshotSource {
  snapshotAt(epoch: number): object | undefined
}

export type ReplicaHandler = (node: NodeService, ex: Exchange) => Promise<void>

/** The node-to-node protocols (docs/protocol.md "replica/*"), each served by the node's NodeService. */
export const REPLICA_HANDLERS: Partial<Record<ProtocolName, ReplicaHandler>> = {
  replicaPush: servePush,
  replicaCommit: async (node, { fs, signal }) => {
    const request = parseCommitRequest(await fs.readJson(signal))
    const result = await node.commitVersion(request)
    await fs.writeJson(result as unknown as JsonObject, signal)
  },
  replicaAbort: async (node, { fs, signal }) => {
    const ids = parseAbortRequest(await fs.readJson(signal))
    await node.abortStaging(ids)
    await fs.writeJson({ ok: true }, signal)
  },
  replicaRecord: async (node, { fs, signal }) => {
    const request = parseRecordRequest(await fs.readJson(signal))
    const record = await node.getRecord(request.object_id, request.version)
    await fs.writeJson({ record: (record ?? null) as unknown as JsonObject | null }, signal)
  },
  replicaManifest: serveManifest,
  replicaFetch: serveFetch,
  replicaProve: async (node, { fs, signal }) => {
    const request = parseProveRequest(await fs.readJson(signal))
    const proof = await node.proveShard(request.shard_id, request.leaf_index)
    await fs.writeJson({ proof: proof as unknown as JsonObject }, signal)
  },
  replicaRpc: (node, ex) => serveRpc(node, ex),
  replicaList: async (node, { fs, signal }) => {
    const filters = parseListRequest(await fs.readJson(signal))
    // One record per frame: a page of up to 1000 records need not fit one frame.
    for (const record of await node.listRecords(filters))
      await fs.writeJson(record as unknown as JsonObject, signal)
    await fs.writeEnd(signal)
  },
}

/**
 * Header, then DATA frames straight into the store's shard writer, then END: the answer is the
 * staged shard. The writer copies each frame into its block buffer, and the stream pauses while the
 * writer waits for the database, so a shard of any size moves in bounded memory.
 */
async function servePush(node: NodeService, { fs, signal }: Exchange): Promise<void> {
  const header = parseShardHeader(await fs.readJson(signal))
  // The signal aborts the writer (discarding what it staged) only if the stream fails.
  const sink: ShardSink = await node.openShard(header, { signal })
  try {
    for (;;) {
      const frame = await fs.read(signal)
      if (frame.type === 'data') for (const chunk of frame.chunks) await sink.write(chunk)
      else if (frame.type === 'end') break
      else throw unexpected(frame, 'DATA or END')
    }
    const staged = await sink.finish()
    await fs.writeJson(staged as unknown as JsonObject, signal)
  } catch (err) {
    await sink.abort(err as Error).catch(() => {})
    throw err
  }
}

/** `{manifest}` then, for a held shard, its leaf hashes as raw 32-byte values in DATA frames, then END. */
async function serveManifest(node: NodeService, { fs, signal }: Exchange): Promise<void> {
  const shardId = parseShardIdRequest(await fs.readJson(signal), 'manifest request')
  const manifest = await node.getManifest(shardId)
  if (manifest === undefined) {
    await fs.writeJson({ manifest: null }, signal)
    return
  }
  await fs.writeJson({ manifest: manifestHead(manifest) as unknown as JsonObject }, signal)
  const leaves = manifest.leaf_hashes
  for (let start = 0; start < leaves.length; start += LEAF_HASHES_PER_FRAME) {
    const end = Math.min(start + LEAF_HASHES_PER_FRAME, leaves.length)
    const body = new Uint8Array((end - start) * 32)
    for (let i = start; i < end; i++) body.set(fromHex(leaves[i]!, 'leaf hash'), (i - start) * 32)
    await fs.writeData(body, signal)
  }
  await fs.writeEnd(signal)
}

/** One DATA frame per block from `from_block` on, then END. */
async function serveFetch(node: NodeService, { fs, signal }: Exchange): Promise<void> {
  const request = parseFetchRequest(await fs.readJson(signal))
  for await (const block of node.fetchShard(request.shard_id, request.from_block, { signal })) {
    // Protocol 1.0.0 carries a block in one frame; governance keeps blocks at or below 1 MiB for it.
    if (block.length > MAX_DATA_BYTES)
      throw new FrameTooLargeError(`a block of ${block.length} bytes exceeds a DATA frame`)
    await fs.writeData(block, signal)
  }
  await fs.writeEnd(signal)
}
