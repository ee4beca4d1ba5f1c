/**
 * The receiving half of a FrameStream: decodes the stream's bytes into a queue of frames, pauses the
 * stream while too many wait (backpressure), holds the peer to the keep-alive rules, and says what a
 * received frame or a cut-off wait means as an error.
 */
import { performance } from 'node:perf_hooks'
import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
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
import type { FrameStreamOptions } from './frame-stream.js'
import { type Frame, FrameDecoder, MAX_DATA_BYTES } from './frames.js'
import { MAX_KEEPALIVES_PER_SECOND } from './protocols.js'

// Decoded frames kept for a slow consumer before the stream is paused. With the muxer's window this
// bounds what one stream holds in memory, whatever the size of the shard or object it carries.
const HIGH_WATER_BYTES = 2 * MAX_DATA_BYTES
const LOW_WATER_BYTES = MAX_DATA_BYTES
// A paused yamux stream still receives what its window already allowed (16 MiB at most by default);
// the stream must hold that rather than abort, so its read buffer limit is raised to cover it.
const MIN_STREAM_READ_BUFFER = 20 * 1024 * 1024

/**
 * Reading is push-based (message events decode straight into a queue) with backpressure: the stream
 * is paused while more than HIGH_WATER_BYTES of frames wait to be read. Framing errors are reported
 * after the whole frames before them.
 */
export class FrameReader {
  private readonly stream: Stream
  private readonly decoder: FrameDecoder
  private readonly idleMs: number
  private readonly peerErrorsEnd: boolean
  private readonly keepAliveLimitMs: number
  /** When the last frame other than a keep-alive was received (or the stream was taken over). */
  private lastFrameMs = performance.now()
  /**
   * Where the idle wait runs from (or from when the reader began waiting, if later): the end of the
   * last whole frame, keep-alives included, or the first byte of the frame now arriving, whichever
   * came last. Each frame thus gets a whole idle period from its first byte, but bytes of a frame
   * do not restart it: a peer sending a frame a byte at a time, each within the idle timeout, would
   * otherwise hold the stream for as long as it liked.
   */
  private quietSinceMs = 0
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
  private readonly inputWatchers = new Set<() => void>()
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
    const began = performance.now()
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
      await this.waitForFrame(began, signal)
    }
  }

  /**
   * Waits until a frame (or the stream's end, or a framing error) is there to read, taking nothing:
   * the next `read` returns or throws at once. A timeout or an abort of `signal` rejects.
   */
  async awaitFrame(signal?: AbortSignal): Promise<void> {
    const began = performance.now()
    while (this.head >= this.queue.length && this.decodeError === undefined && !this.ended()) {
      await this.waitForFrame(began, signal)
    }
  }

  /** Waits for more input, within the idle timeout of `quietSinceMs` or of `began`. */
  private waitForFrame(began: number, signal?: AbortSignal): Promise<void> {
    const quietMs = performance.now() - Math.max(began, this.quietSinceMs)
    if (quietMs >= this.idleMs) {
      return Promise.reject(new StreamTimeoutError(`no frame for ${this.idleMs} ms`))
    }
    return this.waitForInput(signal, this.idleMs - quietMs)
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

  /** What the peer still sends is read and dropped until it ends, for at most `drainMs`. */
  async discardInput(drainMs: number): Promise<void> {
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
    const inFrame = this.decoder.buffered > 0
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
    else if (this.checkKeepAliveRate() || frames.length > 0 || (!inFrame && this.decoder.buffered > 0))
      this.quietSinceMs = performance.now()
    for (const f of frames) {
      this.queue.push(f)
      this.queuedBytes += f.size
    }
    if (frames.length > 0 && this.keepAliveLimitMs !== Number.POSITIVE_INFINITY)
      this.lastFrameMs = performance.now()
    if (!this.resuming) this.applyBackpressure()
    this.notify()
  }

  /**
   * A peer that floods keep-alives has the stream fail FRAME_INVALID (MAX_KEEPALIVES_PER_SECOND).
   * True when keep-alives within the rate arrived with these bytes.
   */
  private checkKeepAliveRate(): boolean {
    const total = this.decoder.keepAlives
    const before = this.keepAlivesSeen
    this.keepAlivesSeen = total
    if (total === before) return false
    // The clock is read only once a window's budget is spent: a window that began long ago then
    // makes way for one that begins with these bytes.
    if (total - this.keepAlivesBeforeWindow <= MAX_KEEPALIVES_PER_SECOND) return true
    const now = performance.now()
    if (now - this.keepAliveWindowMs >= 1000) {
      this.keepAliveWindowMs = now
      this.keepAlivesBeforeWindow = before
      if (total - before <= MAX_KEEPALIVES_PER_SECOND) return true
    }
    this.decodeError = new FrameInvalidError(
      `more than ${MAX_KEEPALIVES_PER_SECOND} KEEPALIVE frames within a second`,
    )
    return false
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
    // Copied before the calls (each removes itself), and only when there is one: this runs per frame.
    if (this.inputWatchers.size > 0) for (const watcher of [...this.inputWatchers]) watcher()
  }

  /**
   * Resolves once anything is there to read (a frame, the input's end, a framing error), however
   * long that takes: for a sender waiting on something else (its caller's content) that must still
   * hear a peer that answered early or went away. `stop` lets go without settling.
   */
  watchInput(): { arrived: Promise<void>; stop: () => void } {
    let stop = () => {}
    const arrived = new Promise<void>((resolve) => {
      if (this.head < this.queue.length || this.decodeError !== undefined || this.ended()) {
        resolve()
        return
      }
      const watcher = () => {
        this.inputWatchers.delete(watcher)
        resolve()
      }
      this.inputWatchers.add(watcher)
      stop = () => this.inputWatchers.delete(watcher)
    })
    return { arrived, stop }
  }

  private waitForInput(signal?: AbortSignal, timeoutMs = this.idleMs): Promise<void> {
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
        timeoutMs,
      )
      if (signal?.aborted === true) {
        done(abortReason(signal))
        return
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.wake = () => done()
    })
  }
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
