import { performance } from 'node:perf_hooks'
import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { QfsError } from '../core/errors.js'
import { underDeadline } from '../engine/deadline.js'
import {
  FrameInvalidError,
  RemoteError,
  StreamEndedError,
  StreamTimeoutError,
  UnexpectedFrameError,
  type WireError,
} from './errors.js'
import {
  encodeDataFrame,
  encodeEndFrame,
  encodeErrorFrame,
  encodeJsonFrame,
  encodeKeepAliveFrame,
  type Frame,
  FrameDecoder,
  type JsonObject,
  MAX_DATA_BYTES,
} from './frames.js'
import { MAX_KEEPALIVES_PER_SECOND } from './protocols.js'

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
   * coordinator may wait on a slow client between blocks. Like any bytes, they restart the idle wait.
   */
  acceptKeepAlive?: boolean
  /**
   * With `acceptKeepAlive`: how long keep-alives alone may keep a read waiting. Past it with no other
   * frame, the read fails TIMEOUT as an idle one would (default: no limit).
   */
  keepAliveLimitMs?: number
}

// Decoded frames kept for a slow consumer before the stream is paused. With the muxer's window this
// bounds what one stream holds in memory, whatever the size of the shard or object it carries.
const HIGH_WATER_BYTES = 2 * MAX_DATA_BYTES
const LOW_WATER_BYTES = MAX_DATA_BYTES
// A paused yamux stream still receives what its window already allowed (16 MiB at most by default);
// the stream must hold that rather than abort, so its read buffer limit is raised to cover it.
const MIN_STREAM_READ_BUFFER = 20 * 1024 * 1024

/**
 * Frames over one libp2p v3 stream. Reading is push-based (message events decode straight into a
 * queue) with backpressure: the stream is paused while more than HIGH_WATER_BYTES of frames wait to be
 * read. Writing hands prefix and body to the stream as one list (no copy) and waits for `drain` only
 * when the stream says it is full. Framing errors are reported after the whole frames before them.
 */
export class FrameStream {
  readonly stream: Stream
  private readonly decoder: FrameDecoder
  private readonly idleMs: number
  private readonly peerErrorsEnd: boolean
  private readonly keepAliveLimitMs: number
  /** When the last frame other than a keep-alive was received (or the stream was taken over). */
  private lastFrameMs = performance.now()
  /** The keep-alive rate rule's current window: its start, and the keep-alives counted before it. */
  private keepAliveWindowMs = performance.now()
  private keepAlivesBeforeWindow = 0
  private keepAlivesSeen = 0
  private readonly queue: Frame[] = []
  private head = 0
  private queuedBytes = 0
  private decodeError: Error | undefined
  /** An 'end' or 'close' was seen; input is over once the stream holds no undelivered bytes either. */
  private endSeen = false
  private disposed = false
  private closeError: Error | undefined
  private paused = false
  private resuming = false
  private wake: (() => void) | undefined
  private readonly onMessage: (evt: StreamMessageEvent) => void
  private readonly onEnd: () => void
  private readonly onClose: (evt: StreamCloseEvent) => void

  constructor(stream: Stream, options: FrameStreamOptions) {
    this.stream = stream
    this.decoder = new FrameDecoder(
      options.maxFrameBytes,
      options.maxJsonFrameBytes ?? options.maxFrameBytes,
      options.acceptKeepAlive === true,
    )
    this.idleMs = options.idleMs
    this.peerErrorsEnd = options.peerErrorsEnd === true
    this.keepAliveLimitMs = options.keepAliveLimitMs ?? Number.POSITIVE_INFINITY
    if (stream.maxReadBufferLength < MIN_STREAM_READ_BUFFER)
      stream.maxReadBufferLength = MIN_STREAM_READ_BUFFER
    this.onMessage = (evt) => this.receive(evt.data)
    this.onEnd = () => {
      this.endSeen = true
      this.notify()
    }
    this.onClose = (evt) => {
      if (evt.error !== undefined) this.closeError = evt.error
      this.endSeen = true
      this.notify()
    }
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('end', this.onEnd)
    stream.addEventListener('close', this.onClose)
    if (stream.readableEnded || stream.status !== 'open') this.endSeen = true
  }

  /** The next frame; ERROR frames come back as frames (`readJson` turns them into RemoteErrors). */
  async read(signal?: AbortSignal): Promise<Frame> {
    for (;;) {
      if (this.head < this.queue.length) {
        const frame = this.take()
        if (frame.type === 'error' && this.peerErrorsEnd)
          throw new StreamEndedError('the peer ended the exchange with an ERROR frame')
        return frame
      }
      if (this.decodeError !== undefined) throw this.decodeError
      if (this.ended()) {
        if (this.decoder.buffered > 0) throw new FrameInvalidError('stream ended inside a frame')
        throw new StreamEndedError('stream ended before the exchange was complete', {
          cause: this.closeError,
        })
      }
      // Bytes woke us, but no frame: keep-alives (or part of a frame) restart the idle wait only so long.
      if (performance.now() - this.lastFrameMs > this.keepAliveLimitMs)
        throw new StreamTimeoutError(`no frame but keep-alives for ${this.keepAliveLimitMs} ms`)
      await this.waitForInput(signal)
    }
  }

  /**
   * Waits until a frame (or the stream's end, or a framing error) is there to read, taking nothing:
   * the next `read` returns or throws at once. A timeout or an abort of `signal` rejects.
   */
  async awaitFrame(signal?: AbortSignal): Promise<void> {
    while (this.head >= this.queue.length && this.decodeError === undefined && !this.ended()) {
      await this.waitForInput(signal)
    }
  }

  /** A JSON frame; an ERROR frame becomes a RemoteError, any other frame UNEXPECTED_FRAME. */
  async readJson(signal?: AbortSignal): Promise<JsonObject> {
    const frame = await this.read(signal)
    if (frame.type === 'json') return frame.value
    throw unexpected(frame, 'a JSON frame')
  }

  /** An ERROR frame already received, without waiting (a peer that refused before we finished). */
  pendingError(): RemoteError | undefined {
    for (let i = this.head; i < this.queue.length; i++) {
      const f = this.queue[i]!
      if (f.type === 'error') return remoteError(f.error)
    }
    return undefined
  }

  /** The peer closed its writing end and every frame it sent has been received. */
  get inputEnded(): boolean {
    return this.ended() && this.decoder.buffered === 0
  }

  /**
   * Input is over when the stream said so and holds no bytes it has yet to hand us. The second part
   * matters: multistream-select hands unread bytes back to the stream (`unshift`) after the stream
   * may already have signalled its end, and a paused stream keeps bytes until resumed.
   */
  private ended(): boolean {
    if (this.disposed) return true
    if (this.stream.readBufferLength > 0) return false
    return this.endSeen || this.stream.readableEnded || this.stream.status !== 'open'
  }

  /** Frames received and not yet read. */
  get pending(): number {
    return this.queue.length - this.head
  }

  /** Hands a frame to the stream; waits (for 'drain') only when the stream reports it is full. */
  async write(parts: Uint8Array[], signal?: AbortSignal): Promise<void> {
    try {
      const ready = this.stream.send(parts.length === 1 ? parts[0]! : new Uint8ArrayList(...parts))
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
    await this.discardInput(drainMs)
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

  /**
   * For an exchange that reads nothing after its request (a read): stop taking the peer's bytes, so
   * the muxer stops granting it window and a peer that keeps sending anyway is held to what the
   * window already allowed, not to what it cares to send while a long answer goes out. Input is read
   * again, and dropped, when the exchange finishes.
   */
  holdInput(): void {
    if (this.paused) return
    try {
      this.stream.pause()
      this.paused = true
    } catch {
      // Closing already.
    }
  }

  private async discardInput(drainMs: number): Promise<void> {
    if (this.paused && this.head >= this.queue.length) {
      this.paused = false
      try {
        this.stream.resume()
      } catch {
        // Closing already.
      }
    }
    try {
      await underDeadline(undefined, drainMs, async (idle) => {
        for (;;) {
          try {
            await this.read(idle)
          } catch (err) {
            if (this.decodeError === undefined || err !== this.decodeError) throw err
            // A framing error loses the frame boundaries, not the stream: what the peer still sends
            // is dropped unparsed (`receive`) until it ends, so our ERROR frame is not overtaken by
            // a reset here either.
            this.resumeDropping()
            while (!this.ended()) await this.waitForInput(idle)
            return
          }
        }
      })
    } catch {
      // Ended or timed out: nothing more to wait for either way.
    }
  }

  /** A stream paused for backpressure is resumed, so that what the peer sends is taken and dropped. */
  private resumeDropping(): void {
    if (!this.paused) return
    this.paused = false
    try {
      this.stream.resume()
    } catch {
      // Closing already.
    }
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
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('end', this.onEnd)
    this.stream.removeEventListener('close', this.onClose)
    this.queue.length = 0
    this.head = 0
    this.queuedBytes = 0
    this.disposed = true
    this.notify()
  }

  private receive(data: Uint8Array | Uint8ArrayList): void {
    if (this.decodeError !== undefined) return
    let frames: Frame[]
    try {
      frames = this.decoder.push(data)
    } catch (err) {
      this.decodeError = err as Error
      this.notify()
      return
    }
    // Frames before a framing error are delivered first; the error follows them.
    if (this.decoder.error !== undefined) this.decodeError = this.decoder.error
    else this.checkKeepAliveRate()
    for (const f of frames) {
      this.queue.push(f)
      this.queuedBytes += f.size
    }
    if (frames.length > 0 && this.keepAliveLimitMs !== Number.POSITIVE_INFINITY)
      this.lastFrameMs = performance.now()
    if (!this.resuming) this.applyBackpressure()
    this.notify()
  }

  /** A peer that floods keep-alives has the stream fail FRAME_INVALID (MAX_KEEPALIVES_PER_SECOND). */
  private checkKeepAliveRate(): void {
    const total = this.decoder.keepAlives
    const before = this.keepAlivesSeen
    this.keepAlivesSeen = total
    // The clock is read only once a window's budget is spent: a window that began long ago then
    // makes way for one that begins with these bytes.
    if (total === before || total - this.keepAlivesBeforeWindow <= MAX_KEEPALIVES_PER_SECOND) return
    const now = performance.now()
    if (now - this.keepAliveWindowMs >= 1000) {
      this.keepAliveWindowMs = now
      this.keepAlivesBeforeWindow = before
      if (total - before <= MAX_KEEPALIVES_PER_SECOND) return
    }
    this.decodeError = new FrameInvalidError(
      `more than ${MAX_KEEPALIVES_PER_SECOND} KEEPALIVE frames within a second`,
    )
  }

  private applyBackpressure(): void {
    if (this.paused || this.queuedBytes + this.decoder.buffered <= HIGH_WATER_BYTES) return
    try {
      this.stream.pause()
      this.paused = true
    } catch {
      // Closing already: nothing more will arrive.
    }
  }

  private take(): Frame {
    const frame = this.queue[this.head]!
    this.queue[this.head] = undefined as unknown as Frame
    this.head++
    if (this.head === this.queue.length) {
      this.queue.length = 0
      this.head = 0
    } else if (this.head > 1024) {
      this.queue.splice(0, this.head)
      this.head = 0
    }
    this.queuedBytes -= frame.size
    if (this.paused && this.queuedBytes <= LOW_WATER_BYTES) {
      this.paused = false
      // resume() hands over what the stream held (into receive) and only then tells the muxer to
      // send window updates again; a pause() from inside that hand-over would be undone by it, so
      // the pause is decided once resume() has returned.
      this.resuming = true
      try {
        this.stream.resume()
      } catch {
        // Closing already.
      } finally {
        this.resuming = false
      }
      this.applyBackpressure()
    }
    return frame
  }

  private notify(): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  private waitForInput(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.wake = undefined
        if (err === undefined) resolve()
        else reject(err)
      }
      const onAbort = () => done(abortReason(signal!))
      const timer = setTimeout(
        () => done(new StreamTimeoutError(`no frame for ${this.idleMs} ms`)),
        this.idleMs,
      )
      if (signal?.aborted === true) {
        done(abortReason(signal))
        return
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.wake = () => done()
    })
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

export function remoteError(e: WireError): RemoteError {
  return new RemoteError(e.code, e.error_code, e.error_detail)
}

/** What an out-of-place frame means: the peer's own error, or a protocol violation. */
export function unexpected(frame: Frame, wanted: string): Error {
  if (frame.type === 'error') return remoteError(frame.error)
  return new UnexpectedFrameError(`expected ${wanted}, got a ${frame.type.toUpperCase()} frame`)
}

export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  if (reason instanceof QfsError) return reason
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new StreamTimeoutError('the exchange outlived its deadline', { cause: reason })
  }
  return new StreamEndedError('the exchange was aborted', { cause: reason })
}
