import { setMaxListeners } from 'node:events'
import { canonicalBytes } from '../core/canonical.js'
import { storageErrorCode } from '../core/errors.js'
import type { NodeService } from '../engine/node-service.js'
import {
  FrameInvalidError,
  FrameTooLargeError,
  NotEligibleError,
  SnapshotNotHeldError,
  StreamTimeoutError,
} from './errors.js'
import { unexpected } from './frame-reader.js'
import type { FrameStream } from './frame-stream.js'
import { type Frame, type JsonObject, wireErrorOf } from './frames.js'
import {
  type Fields,
  parseAbortRequest,
  parseCommitRequest,
  parseFetchRequest,
  parseProveRequest,
  parseRecordRequest,
} from './messages.js'
import {
  MAX_INLINE_SHARD_BYTES,
  MAX_RPC_IN_FLIGHT,
  MAX_RPC_INLINE_BYTES_IN_FLIGHT,
  MAX_SNAPSHOT_ANSWER_BYTES,
  parseRpcRequest,
  parseSnapshotRequest,
  parseStageRequest,
  type RpcRequest,
  requestIdOf,
  stageLengths,
} from './rpc-messages.js'
import type { Exchange, SnapshotSource } from './serve-replica.js'

interface Answer {
  body: Fields
  data?: Uint8Array
}

/**
 * The server end of a replica channel (docs/protocol.md "replica/rpc"). Requests are read in order
 * and run concurrently, at most MAX_RPC_IN_FLIGHT at once and holding at most
 * MAX_RPC_INLINE_BYTES_IN_FLIGHT of stage bytes (reading stops beyond, the channel's backpressure); answers go out as each finishes, tagged with the request's id. A
 * request that parses but fails is answered `ok: false` and the channel goes on; a frame that cannot
 * be tied to a request, or stage bytes that do not match their header, fail the whole channel.
 */
export async function serveRpc(node: NodeService, ex: Exchange): Promise<void> {
  const { fs } = ex
  // A reply that cannot be written fails the channel: the peer is not reading, and a reply cut
  // between its JSON and its DATA frame would put the stream out of step.
  const broken = new AbortController()
  const signal = AbortSignal.any([ex.signal, broken.signal])
  // Up to MAX_RPC_IN_FLIGHT requests listen to the channel's signal at once.
  setMaxListeners(Number.POSITIVE_INFINITY, signal)
  // Reading new requests also stops when the node drains; one signal for the channel's life, not one
  // per request (AbortSignal.any per request measurably slowed a node under small requests).
  const reading = ex.draining === undefined ? signal : AbortSignal.any([signal, ex.draining])
  const replies = new ReplyWriter(fs, signal, (err) => broken.abort(err))
  const inFlight = new Set<Promise<void>>()
  // Stage bytes read and fetch blocks read for replies not yet written: what the channel holds.
  let heldBytes = 0
  try {
    for (;;) {
      while (inFlight.size >= MAX_RPC_IN_FLIGHT || heldBytes >= MAX_RPC_INLINE_BYTES_IN_FLIGHT)
        await Promise.race(inFlight)
      signal.throwIfAborted()
      const frame = await nextRequest(fs, reading, signal, ex.draining)
      if (frame === undefined || frame.type === 'end') return
      if (frame.type !== 'json') throw unexpected(frame, 'a request or END')
      const id = requestIdOf(frame.value)
      if (id === undefined) throw new FrameInvalidError('a request without a usable id')
      // Stage bytes follow their request at once; they are read here, in order, whatever the request.
      const data = await readInlineBytes(fs, frame.value, signal)
      if (ex.stillEligible?.() === false) throw new NotEligibleError('the peer left the eligible set')
      let request: RpcRequest
      try {
        request = parseRpcRequest(frame.value)
      } catch (err) {
        await replies.failure(id, err)
        continue
      }
      let held = data?.length ?? 0
      heldBytes += held
      const deadline = requestDeadline(signal, ex.requestTimeoutMs)
      const run: Promise<void> = handle(node, request, data, deadline.signal, ex.snapshots)
        .then(
          (answer) => {
            const extra = answer.data?.length ?? 0
            heldBytes += extra
            held += extra
            return replies.success(id, answer)
          },
          (err: unknown) => replies.failure(id, err),
        )
        .catch(() => {
          // The reply writer failed the channel; the read loop ends on its signal.
        })
        .finally(() => {
          deadline.clear()
          heldBytes -= held
          inFlight.delete(run)
        })
      inFlight.add(run)
    }
  } finally {
    // Requests already read are answered (or fail with the channel) before the stream is finished.
    await Promise.allSettled(inFlight)
  }
}

/**
 * The next request frame, or undefined once the node is stopping: a stopping node reads no new
 * request (those already read are answered) and ends the channel; the peer opens a new one elsewhere
 * or sees the node gone. A frame is consumed only when it is returned.
 */
async function nextRequest(
  fs: FrameStream,
  reading: AbortSignal,
  signal: AbortSignal,
  draining: AbortSignal | undefined,
): Promise<Frame | undefined> {
  // A function, not a narrowed property: the read below may see the drain begin.
  const drained = () => draining?.aborted === true
  if (drained()) return undefined
  try {
    return await fs.read(reading)
  } catch (err) {
    if (drained() && !signal.aborted) return undefined
    throw err
  }
}

/** One request's signal: the channel's, and its own deadline (a timer, cleared when it is answered). */
function requestDeadline(
  channel: AbortSignal,
  ms: number | undefined,
): { signal: AbortSignal; clear: () => void } {
  if (ms === undefined) return { signal: channel, clear: () => {} }
  const controller = new AbortController()
  const onAbort = () => controller.abort(channel.reason)
  channel.addEventListener('abort', onAbort, { once: true })
  const timer = setTimeout(
    () => controller.abort(new StreamTimeoutError(`the request outlived its ${ms} ms deadline`)),
    ms,
  )
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer)
      channel.removeEventListener('abort', onAbort)
    },
  }
}

/** A stage request's bytes: DATA frames adding up to its shards' lengths (none if all are empty). */
async function readInlineBytes(
  fs: FrameStream,
  value: JsonObject,
  signal: AbortSignal,
): Promise<Uint8Array | undefined> {
  if (value.op !== 'stage') return undefined
  let length: number
  try {
    length = stageLengths(value.body).reduce((a, b) => a + b, 0)
  } catch (err) {
    throw new FrameInvalidError(
      `a stage request whose bytes cannot be delimited: ${(err as Error).message}`,
      {
        cause: err,
      },
    )
  }
  const out = new Uint8Array(length)
  let filled = 0
  while (filled < length) {
    const frame = await fs.read(signal)
    if (frame.type !== 'data') throw unexpected(frame, 'the shard bytes of a stage request')
    for (const chunk of frame.chunks) {
      if (filled + chunk.length > length) throw new FrameInvalidError('more shard bytes than announced')
      out.set(chunk, filled)
      filled += chunk.length
    }
  }
  return out
}

async function handle(
  node: NodeService,
  request: RpcRequest,
  data: Uint8Array | undefined,
  signal: AbortSignal,
  snapshots: SnapshotSource | undefined,
): Promise<Answer> {
  const body = request.body
  switch (request.op) {
    case 'record': {
      const r = parseRecordRequest(body)
      const record = await node.getRecord(r.object_id, r.version)
      return { body: { record: (record ?? null) as unknown as JsonObject | null } }
    }
    case 'commit':
      return { body: (await node.commitVersion(parseCommitRequest(body))) as unknown as Fields }
    case 'abort':
      await node.abortStaging(parseAbortRequest(body))
      return { body: { ok: true } }
    case 'prove': {
      const r = parseProveRequest(body)
      return { body: { proof: (await node.proveShard(r.shard_id, r.leaf_index)) as unknown as JsonObject } }
    }
    case 'stage': {
      const headers = parseStageRequest(body)
      const bytes = data ?? new Uint8Array(0)
      let offset = 0
      const shards = headers.map((header) => {
        const shard = { header, bytes: bytes.subarray(offset, offset + header.length) }
        offset += header.length
        return shard
      })
      return { body: { staged: (await node.stageShards(shards, { signal })) as unknown as JsonObject[] } }
    }
    case 'fetch': {
      // One block: the caller asks here only for the last block of a shard (small shards whole).
      const r = parseFetchRequest(body)
      for await (const block of node.fetchShard(r.shard_id, r.from_block, { signal })) {
        if (block.length > MAX_INLINE_SHARD_BYTES)
          throw new FrameInvalidError(`a block of ${block.length} bytes is not fetched inline`)
        return { body: { blocks: 1 }, data: block }
      }
      return { body: { blocks: 0 } }
    }
    case 'snapshot':
      return { body: { snapshot: servedSnapshot(snapshots, parseSnapshotRequest(body)) } }
  }
}

/**
 * A held epoch's snapshot as signed, for a peer that lacks it (it verifies the snapshot itself).
 * One that would not fit a reply frame is refused here: written, it would fail the whole channel.
 */
function servedSnapshot(snapshots: SnapshotSource | undefined, epoch: number): JsonObject {
  const snapshot = snapshots?.snapshotAt(epoch) as JsonObject | undefined
  if (snapshot === undefined) throw new SnapshotNotHeldError(`this node holds no snapshot of epoch ${epoch}`)
  const bytes = canonicalBytes(snapshot).length
  if (bytes > MAX_SNAPSHOT_ANSWER_BYTES)
    throw new FrameTooLargeError(
      `the snapshot of epoch ${epoch} is ${bytes} bytes, more than the ${MAX_SNAPSHOT_ANSWER_BYTES} an answer carries`,
    )
  return snapshot
}

/** Answers leave one at a time, so a reply and its DATA frame stay together on the stream. */
class ReplyWriter {
  private tail: Promise<void> = Promise.resolve()

  constructor(
    private readonly fs: FrameStream,
    private readonly signal: AbortSignal,
    private readonly onFailure: (err: unknown) => void,
  ) {}

  success(id: number, answer: Answer): Promise<void> {
    const data = answer.data !== undefined && answer.data.length > 0 ? answer.data : undefined
    return this.send({ id, ok: true, body: answer.body, data: data !== undefined }, data)
  }

  failure(id: number, err: unknown): Promise<void> {
    return this.send({ id, ok: false, error: wireErrorOf(err, storageErrorCode) as unknown as JsonObject })
  }

  private send(value: JsonObject, data?: Uint8Array): Promise<void> {
    const sent = this.tail.then(async () => {
      this.signal.throwIfAborted()
      await this.fs.writeJsonWithData(value, data, this.signal)
    })
    this.tail = sent.catch((err: unknown) => this.onFailure(err))
    return sent
  }
}
