import type { Stream, StreamCloseEvent } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { QfsError } from '../core/errors.js'
import { underDeadline } from '../engine/deadline.js'
import { type RemoteError, StreamEndedError, StreamTimeoutError, type WireError } from './errors.js'
import { abortReason, FrameReader, unexpected } from './frame-reader.js'
import {
  encodeDataFrame,
  encodeEndFrame,
  encodeErrorFrame,
  encodeJsonFrame,
  encodeKeepAliveFrame,
  type Frame,
  type JsonObject,
  MAX_DATA_BYTES,
} from './frames.js'

export interface FrameStreamOptions {
  maxFrameBytes: number
  /** Largest JSON frame received (default maxFrameBytes); servers bound requests with it. */
  maxJsonFrameBytes?: number
  /** Longest wait for the next frame, or for the peer to take more bytes, before TIMEOUT. */
  idleMs: number
  /**
   * A server never takes a client's ERROR frame as its own verdict: the frame ends the exchange as
   * STREAM_ENDED (docs/protocol.md section 3). Otherwise a client would choose the codes a node
   * answers, logs and counts in its metrics. Clients keep the remote's code (the default).
   */
  peerErrorsEnd?: boolean
  /**
   * KEEPALIVE frames are taken (and dropped) rather than refused: only a replica/push server, whose
   * coordinator may wait on a slow client between blocks. Like any whole frame, they restart the idle wait.
   */
  acceptKeepAlive?: boolean
  /**
   * With `acceptKeepAlive`: how long keep-alives alone may keep a read waiting. Past it with no other
   * frame, the read fails TIMEOUT as an idle one would (default: no limit).
   */
  keepAliveLimitMs?: number
}

/**
 * Frames over one libp2p v3 stream. Reading is the FrameReader's (push-based, with backpressure).
 * Writing hands prefix and body to the stream as one list (no copy) and waits for `drain` only when
 * the stream says it is full.
 */
export class FrameStream {
  readonly stream: Stream
  private readonly reader: FrameReader
  private readonly idleMs: number

  constructor(stream: Stream, options: FrameStreamOptions) {
    this.stream = stream
    this.reader = new FrameReader(stream, options)
    this.idleMs = options.idleMs
  }

  /** The next frame; ERROR frames come back as frames (`readJson` turns them into RemoteErrors). */
  read(signal?: AbortSignal): Promise<Frame> {
    return this.reader.read(signal)
  }

  /**
   * Waits until a frame (or the stream's end, or a framing error) is there to read, taking nothing:
   * the next `read` returns or throws at once. A timeout or an abort of `signal` rejects.
   */
  awaitFrame(signal?: AbortSignal): Promise<void> {
    return this.reader.awaitFrame(signal)
  }

  /** A JSON frame; an ERROR frame becomes a RemoteError, any other frame UNEXPECTED_FRAME. */
  async readJson(signal?: AbortSignal): Promise<JsonObject> {
    const frame = await this.read(signal)
    if (frame.type === 'json') return frame.value
    throw unexpected(frame, 'a JSON frame')
  }

  /** An ERROR frame already received, without waiting (a peer that refused before we finished). */
  pendingError(): RemoteError | undefined {
    return this.reader.pendingError()
  }

  /** Resolves once a frame, the input's end or an error is there to read; no timeout (frame-reader.ts). */
  watchInput(): { arrived: Promise<void>; stop: () => void } {
    return this.reader.watchInput()
  }

  /**
   * Resolves once the stream is done both ways (closed, reset or aborted): nothing more comes or goes,
   * though frames already received may still be read.
   */
  whenClosed(): Promise<void> {
    const status = this.stream.status
    if (status !== 'open' && status !== 'closing') return Promise.resolve()
    return new Promise((resolve) => this.stream.addEventListener('close', () => resolve(), { once: true }))
  }

  /** The peer closed its writing end and every frame it sent has been received. */
  get inputEnded(): boolean {
    return this.reader.inputEnded
  }

  /** Frames received and not yet read. */
  get pending(): number {
    return this.reader.pending
  }

  /**
   * Hands a frame to the stream; waits (for 'drain') only when the stream reports it is full.
   * `handed` is called once the stream took the bytes (a send that throws took none).
   */
  async write(parts: Uint8Array[], signal?: AbortSignal, handed?: () => void): Promise<void> {
    try {
      const ready = this.stream.send(parts.length === 1 ? parts[0]! : new Uint8ArrayList(...parts))
      handed?.()
      if (!ready) await underDeadline(signal, this.idleMs, (idle) => drained(this.stream, idle))
    } catch (err) {
      throw this.writeFailure(err, signal)
    }
  }

  writeJson(value: JsonObject, signal?: AbortSignal): Promise<void> {
    return this.write(encodeJsonFrame(value), signal)
  }

  /**
   * A JSON frame and the DATA that belongs to it, handed to the stream in one send when the data is
   * one frame: one muxer frame and one Noise message instead of two, for every small request.
   */
  async writeJsonWithData(
    value: JsonObject,
    data: Uint8Array | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    const json = encodeJsonFrame(value)
    if (data === undefined || data.length === 0) return this.write(json, signal)
    if (data.length > MAX_DATA_BYTES) {
      await this.write(json, signal)
      return this.writeData(data, signal)
    }
    return this.write([...json, ...encodeDataFrame(data)], signal)
  }

  /** Bytes as DATA frames of at most 1 MiB each (views, never copies). */
  async writeData(bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    for (let off = 0; off < bytes.length; off += MAX_DATA_BYTES) {
      await this.write(
        encodeDataFrame(bytes.subarray(off, Math.min(off + MAX_DATA_BYTES, bytes.length))),
        signal,
      )
    }
  }

  /**
   * A KEEPALIVE frame, for a peer that accepts them (`acceptKeepAlive`), handed over only if the
   * stream takes bytes now: one waiting for 'drain' has bytes in flight anyway, and a keep-alive must
   * never wait (and time out) behind them. False when skipped; throws if the stream cannot send.
   */
  sendKeepAlive(): boolean {
    if (this.stream.writableNeedsDrain) return false
    this.stream.send(encodeKeepAliveFrame()[0]!)
    return true
  }

  writeEnd(signal?: AbortSignal): Promise<void> {
    return this.write(encodeEndFrame(), signal)
  }

  /** Closes our writing end once everything queued has gone out. */
  async close(signal?: AbortSignal): Promise<void> {
    try {
      await underDeadline(signal, this.idleMs, (idle) => this.stream.close({ signal: idle }))
    } catch (err) {
      this.stream.abort(err as Error)
      throw this.writeFailure(err, signal)
    }
  }

  /**
   * The end of a served exchange: closes our writing end, lets the peer finish (what it still sends
   * is read and dropped, for at most the idle timeout), then releases the stream. Never throws.
   */
  async finish(signal?: AbortSignal, drainMs = this.idleMs): Promise<void> {
    try {
      await underDeadline(signal, drainMs, (idle) => this.stream.close({ signal: idle }))
    } catch {
      // The peer is gone or not reading: the reset below is all that is left to say.
    }
    await this.reader.discardInput(drainMs)
    if (this.stream.status === 'open') this.abort(new StreamEndedError('peer kept the stream open'))
    else this.dispose()
  }

  /**
   * A served exchange that failed: an ERROR frame says why, then as `finish`. The stream is not
   * reset right after the ERROR frame: a reset can overtake the peer's protocol negotiation and lose
   * the frame, so the peer is given the idle timeout (or `drainMs`) to close or reset it itself.
   * Never throws.
   */
  async fail(error: WireError, drainMs = this.idleMs): Promise<void> {
    try {
      if (this.stream.writeStatus === 'writable')
        this.stream.send(new Uint8ArrayList(...encodeErrorFrame(error)))
    } catch {
      // Closed under us.
    }
    await this.finish(undefined, drainMs)
  }

  /**
   * The end of an exchange we started, once its answer is read: if we never finished our side (the
   * peer answered early, a refusal), reset the stream so the peer stops waiting for us.
   */
  done(): void {
    if (this.stream.writeStatus === 'writable')
      this.abort(new StreamEndedError('answered before the request was complete'))
    else this.dispose()
  }

  /** For an exchange that reads nothing after its request: stop taking the peer's bytes until it finishes. */
  holdInput(): void {
    this.reader.holdInput()
  }

  abort(err: Error): void {
    this.dispose()
    try {
      this.stream.abort(err)
    } catch {
      // Already closed.
    }
  }

  /** Stops listening; frames not yet read are dropped. */
  dispose(): void {
    this.reader.dispose()
  }

  /** A failed send: the peer's own ERROR frame if it sent one, a timeout, or the stream's end. */
  private writeFailure(err: unknown, signal?: AbortSignal): Error {
    const remote = this.pendingError()
    if (remote !== undefined) return remote
    if (signal?.aborted === true) return abortReason(signal)
    if (err instanceof QfsError) return err
    if ((err as Error)?.name === 'TimeoutError' || (err as Error)?.name === 'AbortError') {
      return new StreamTimeoutError(`peer took no data for ${this.idleMs} ms`, { cause: err })
    }
    return new StreamEndedError('stream closed while writing', { cause: err })
  }
}

/**
 * Waits until the stream has sent everything it was handed: its write buffer is empty and it needs
 * no drain. Not merely the next 'drain' event: the stream fires one on every flow-control window
 * update, however small (13 bytes), and on every drain of the connection, so a writer that moved on
 * at each one appended a frame to the write buffer per window update, and a reader that granted a
 * few bytes at a time had the node buffer a whole object (an adversarial session: 255 of 256 MiB).
 * `stream.onDrain()` is not used either: in @libp2p/utils 7.4 its promise is created once and never
 * renewed. The state is checked after the stream's own microtask that resumes sending on 'drain'.
 */
function drained(stream: Stream, signal: AbortSignal): Promise<void> {
  const sent = () => !stream.writableNeedsDrain && stream.writeBufferLength === 0
  if (sent()) return Promise.resolve()
  return new Promise<void>((resolve, reject) => {
    const cleanup = () => {
      stream.removeEventListener('drain', onProgress)
      stream.removeEventListener('idle', onProgress)
      stream.removeEventListener('close', onClose)
      signal.removeEventListener('abort', onAbort)
    }
    const onProgress = () => {
      queueMicrotask(() => {
        if (!sent() || signal.aborted) return
        cleanup()
        resolve()
      })
    }
    const onClose = (evt: StreamCloseEvent) => {
      cleanup()
      reject(evt.error ?? new StreamEndedError('stream closed while waiting to write'))
    }
    const onAbort = () => {
      cleanup()
      reject(signal.reason)
    }
    if (signal.aborted) {
      reject(signal.reason)
      return
    }
    stream.addEventListener('drain', onProgress)
    stream.addEventListener('idle', onProgress)
    stream.addEventListener('close', onClose)
    signal.addEventListener('abort', onAbort)
  })
}
