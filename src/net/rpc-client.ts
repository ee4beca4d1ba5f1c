import { NodeUnavailableError } from '../engine/errors.js'
import { exchangeFailure } from './dial.js'
import {
  FrameInvalidError,
  NotEligibleError,
  type RemoteError,
  StreamEndedError,
  StreamTimeoutError,
} from './errors.js'
import { abortReason, remoteError, unexpected } from './frame-reader.js'
import type { FrameStream } from './frame-stream.js'
import { dataBytes, type JsonObject } from './frames.js'
import type { Fields } from './messages.js'
import { MAX_RPC_ID, parseRpcReply, type RpcOp } from './rpc-messages.js'

export interface RpcAnswer {
  body: Fields
  data?: Uint8Array
}

export interface RpcCallOptions {
  signal?: AbortSignal
  /** Bytes sent as DATA frames right after the request (a stage request's shard). */
  data?: Uint8Array
}

/**
 * Requests that wait for the remote's single-writer lock. They travel on their own channel: a server
 * reads a channel in order and stops at MAX_RPC_IN_FLIGHT, so behind 64 writes queued on the lock a
 * record lookup or a fetch would wait for the writes, not for the node.
 */
const WRITE_LANE_OPS: ReadonlySet<RpcOp> = new Set(['stage', 'commit', 'abort'])

/**
 * The calling end of the replica channels (docs/protocol.md "replica/rpc"): two channels per remote
 * node, one for requests that take its write lock and one for the others, each opened on first use
 * and closed after `idleMs` without an answer to wait for. A channel that fails takes its pending
 * requests with it (NODE_UNAVAILABLE, or the remote's ERROR code); the next request opens a new one.
 * Each request is bounded by `requestTimeoutMs` (and the caller's signal).
 */
export class RpcChannels {
  private readonly channels = new Map<string, RpcChannel>()

  constructor(
    private readonly open: (nodeId: string, signal: AbortSignal) => Promise<FrameStream>,
    private readonly timeouts: { requestTimeoutMs: number; idleTimeoutMs: number },
  ) {}

  async request(nodeId: string, op: RpcOp, body: Fields, options: RpcCallOptions = {}): Promise<RpcAnswer> {
    const key = `${WRITE_LANE_OPS.has(op) ? 'write' : 'read'}:${nodeId}`
    let channel = this.channels.get(key)
    if (channel === undefined || channel.closed) {
      // Opened under the deadline alone: the channel is shared, so one caller's abort must not close it.
      const opening = this.open(nodeId, AbortSignal.timeout(this.timeouts.requestTimeoutMs))
      const opened = new RpcChannel(opening, () => {
        if (this.channels.get(key) === opened) this.channels.delete(key)
      })
      channel = opened
      this.channels.set(key, channel)
    }
    try {
      return await channel.request(op, body, options.data, options.signal, this.timeouts.requestTimeoutMs)
    } catch (err) {
      throw exchangeFailure(err, nodeId)
    }
  }

  /** Closes every channel; requests still pending fail. */
  close(): void {
    for (const channel of this.channels.values()) channel.fail(new StreamEndedError('transport closed'))
    this.channels.clear()
  }
}

/**
 * The id of a channel's next request after `last` (docs/protocol.md, replica/rpc `id`): one more,
 * wrapping around to 0 after MAX_RPC_ID (2^32 - 1), skipping ids still waiting for an answer (an answer
 * names its request by id alone). A channel's first request, after 0, is 1.
 */
export function nextRequestId(last: number, inFlight: { has(id: number): boolean }): number {
  let id = last
  do id = id === MAX_RPC_ID ? 0 : id + 1
  while (inFlight.has(id))
  return id
}

interface Pending {
  resolve: (answer: RpcAnswer) => void
  reject: (err: Error) => void
  /** The wait for an answer frame (`reads`) the request was sent during. */
  sentDuring: number
}

class RpcChannel {
  closed = false
  private readonly pending = new Map<number, Pending>()
  /** The id given to the last request (0 before the first: ids count up from 1). */
  private lastId = 0
  /** Waits for an answer frame begun so far: an idle timeout blames only requests older than the wait. */
  private reads = 0
  private writes: Promise<void> = Promise.resolve()
  private stream: FrameStream | undefined

  constructor(
    private readonly opening: Promise<FrameStream>,
    private readonly onClosed: () => void,
  ) {
    opening.then(
      (fs) => {
        this.stream = fs
        if (this.closed) fs.abort(new StreamEndedError('channel closed while opening'))
        else void this.readAnswers(fs)
      },
      (err: unknown) => this.fail(err as Error),
    )
  }

  /**
   * One request, bounded by `timeoutMs` and the caller's signal. The deadline is a plain timer, not
   * an AbortSignal.any per request: those cost a small write measurably more CPU.
   */
  request(
    op: RpcOp,
    body: Fields,
    data: Uint8Array | undefined,
    signal: AbortSignal | undefined,
    timeoutMs: number,
  ): Promise<RpcAnswer> {
    if (this.closed) return Promise.reject(new StreamEndedError('channel closed'))
    if (signal?.aborted === true) return Promise.reject(abortReason(signal))
    const id = this.allocateId()
    return new Promise<RpcAnswer>((resolve, reject) => {
      // Either way the answer may still come; it is dropped as an unknown id.
      const giveUp = (err: Error) => {
        if (!this.pending.delete(id)) return
        settle()
        reject(err)
      }
      const onAbort = () => giveUp(abortReason(signal!))
      const timer = setTimeout(
        () => giveUp(new StreamTimeoutError(`no answer within ${timeoutMs} ms`)),
        timeoutMs,
      )
      const settle = () => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.pending.set(id, {
        resolve: (a) => {
          settle()
          resolve(a)
        },
        reject: (e) => {
          settle()
          reject(e)
        },
        sentDuring: this.reads,
      })
      // Frames of one request leave together and in request order; a failed send fails the channel.
      this.writes = this.writes
        .then(async () => {
          // A request its caller gave up on while it queued is not sent: nothing of it is on the
          // stream yet, and a late commit or stage would act after the coordinator moved on.
          if (!this.pending.has(id)) return
          const fs = await this.opening
          await fs.writeJsonWithData({ id, op, body } as JsonObject, data)
        })
        .catch((err: unknown) => this.fail(err as Error))
    })
  }

  /** Rejects everything pending and drops the stream. */
  fail(err: Error): void {
    if (!this.closed) {
      this.closed = true
      this.onClosed()
    }
    this.stream?.abort(err)
    const pending = [...this.pending.values()]
    this.pending.clear()
    for (const p of pending) p.reject(err)
  }

  private allocateId(): number {
    this.lastId = nextRequestId(this.lastId, this.pending)
    return this.lastId
  }

  private async readAnswers(fs: FrameStream): Promise<void> {
    try {
      for (;;) {
        let frame: Awaited<ReturnType<FrameStream['read']>>
        this.reads++
        try {
          frame = await fs.read()
        } catch (err) {
          if (err instanceof StreamTimeoutError && !this.closed) {
            // Silent for the idle timeout with nothing asked: a quiet channel, closed cleanly.
            if (this.pending.size === 0) {
              this.closeIdle(fs)
              return
            }
            // The node is silent only towards requests that waited the whole timeout; one sent
            // during this wait (on a channel that was quiet) gets a whole idle period of its own.
            const reads = this.reads
            if (![...this.pending.values()].some((p) => p.sentDuring < reads)) continue
          }
          throw err
        }
        if (frame.type === 'error') throw channelError(remoteError(frame.error))
        if (frame.type === 'end') throw new StreamEndedError('the node closed the channel')
        if (frame.type !== 'json') throw unexpected(frame, 'an answer')
        const reply = parseRpcReply(frame.value)
        let data: Uint8Array | undefined
        if (reply.ok && reply.data) {
          const next = await fs.read()
          if (next.type !== 'data') throw unexpected(next, 'the DATA of an answer')
          data = dataBytes(next)
        }
        const waiting = this.pending.get(reply.id)
        if (waiting === undefined) continue
        this.pending.delete(reply.id)
        if (reply.ok) waiting.resolve({ body: reply.body, data })
        else waiting.reject(remoteError(reply.error))
      }
    } catch (err) {
      this.fail(err instanceof Error ? err : new FrameInvalidError('channel failed'))
    }
  }

  private closeIdle(fs: FrameStream): void {
    this.closed = true
    this.onClosed()
    // END first, after any request still being written: the server reads it as the channel's end,
    // not as a stream cut short.
    void this.writes
      .then(() => fs.writeEnd())
      .then(() => fs.close())
      .then(
        () => fs.done(),
        () => fs.abort(new StreamEndedError('channel close failed')),
      )
  }
}

/**
 * What an ERROR frame on the channel means to each request waiting on it. The channel failed, not
 * those requests: the node did not answer them (NODE_UNAVAILABLE, the remote's error kept as the
 * cause), so no home's refusal is read into it. NOT_ELIGIBLE is the exception: it is the node's
 * verdict on the caller itself, true of every request.
 */
function channelError(err: RemoteError): Error {
  if (err.code === NotEligibleError.code) return err
  return new NodeUnavailableError(`the replica channel failed (${err.code})`, { cause: err })
}
