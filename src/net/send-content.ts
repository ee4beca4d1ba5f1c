import { InvalidInputError } from '../core/errors.js'
import { type EngineFailure, failure } from '../engine/responses.js'
import { ContentSourceError } from './dial.js'
import { StreamEndedError } from './errors.js'
import type { FrameStream } from './frame-stream.js'
import { encodeDataFrame, encodeEndFrame } from './frames.js'

/** What sending a write's content looks at: the caller's abort and its progress callback. */
export interface SendOptions {
  signal?: AbortSignal
  /** Bytes of content the stream took so far. */
  onProgress?: (sent: number) => void
}

/**
 * Small content whole: request, DATA and END in one send (one muxer frame and Noise message instead
 * of three), the same frames. `sent` once the stream took the bytes: a send that throws took none.
 */
export async function sendWhole(
  fs: FrameStream,
  request: Uint8Array[],
  content: Uint8Array,
  options: SendOptions,
  sent: () => void,
): Promise<undefined> {
  options.signal?.throwIfAborted()
  const data = content.length === 0 ? [] : encodeDataFrame(content)
  try {
    await fs.write([...request, ...data, ...encodeEndFrame()], options.signal, sent)
    options.onProgress?.(content.length)
    await fs.close(options.signal)
  } catch (err) {
    // A refusal may have reset the stream under us; its answer is still queued.
    if (fs.pending === 0) throw err
  }
  return undefined
}

/**
 * The request, then the content as it comes, then END; stops early when the node answered (it
 * refuses) and returns a failure for a chunk that is not bytes. `sent` once every byte went out.
 */
export async function sendStreamed(
  fs: FrameStream,
  request: Uint8Array[],
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: SendOptions,
  sent: () => void,
): Promise<EngineFailure | undefined> {
  const { signal } = options
  await fs.write(request, signal)
  let bytes = 0
  const content = callerContent(chunks)
  // The caller's content may take its time, or never come: its wait is raced against the caller's
  // abort and against anything the node sends (it answers early only to refuse, or goes away).
  const input = fs.watchInput()
  const heard = input.arrived.then((): typeof NODE_SPOKE => NODE_SPOKE)
  const aborted = signal === undefined ? undefined : abortedPromise(signal)
  try {
    for (;;) {
      const next = await Promise.race(
        aborted === undefined ? [content.next(), heard] : [content.next(), heard, aborted.promise],
      )
      if (next === NODE_SPOKE) {
        // A refusal is read below; an exchange that ended without one failed before the content did.
        if (fs.pending === 0)
          throw new StreamEndedError('the node ended the exchange before the content was sent')
        break
      }
      if (next.done === true) break
      const chunk = next.value
      // The node answers before the end only when it refuses: stop sending and read why.
      if (fs.pending > 0) break
      if (!(chunk instanceof Uint8Array)) {
        fs.abort(new Error('bad content chunk'))
        return failure(new InvalidInputError('content chunks must be Uint8Array'), null)
      }
      if (chunk.length === 0) continue
      // A stream with room takes bytes without looking at the signal: the caller's abort must
      // stop the content here, or the rest and END would still go out.
      signal?.throwIfAborted()
      await fs.writeData(chunk, signal)
      bytes += chunk.length
      options.onProgress?.(bytes)
    }
    if (fs.pending === 0) {
      signal?.throwIfAborted()
      // Every byte is sent: from here a failure cannot tell whether the node went on to write.
      sent()
      await fs.writeEnd(signal)
      await fs.close(signal)
    }
  } catch (err) {
    // A refusal may have reset the stream under us; its answer is still queued.
    if (fs.pending === 0) throw err
  } finally {
    input.stop()
    aborted?.dispose()
    // A source left mid-way is told to let go (a file stream closes). Not awaited: one that never
    // yields again never finishes its return either.
    content.return(undefined).catch(() => {})
  }
  return undefined
}

/** What `sendStreamed` races the caller's content against: the node sent something. */
const NODE_SPOKE: unique symbol = Symbol('node spoke')

/** A promise rejected with the signal's reason once it aborts; `dispose` lets go of the listener. */
function abortedPromise(signal: AbortSignal): { promise: Promise<never>; dispose: () => void } {
  let dispose = () => {}
  const promise = new Promise<never>((_, reject) => {
    if (signal.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    dispose = () => signal.removeEventListener('abort', onAbort)
  })
  promise.catch(() => {}) // raced, or never looked at once the content ended first
  return { promise, dispose }
}

/**
 * The caller's chunks as they come, an error of their iterator marked as the source's
 * (ContentSourceError) so that it is never reported as the node's failure.
 */
async function* callerContent(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  try {
    yield* chunks
  } catch (err) {
    throw new ContentSourceError(undefined, { cause: err })
  }
}
