import { InvalidInputError, QfsError } from '../core/errors.js'
import { DEFAULT_PARAMS, type ProtocolParams } from '../core/params.js'
import { underDeadline } from '../engine/deadline.js'
import { IntegrityMismatchError } from '../engine/errors.js'
import { MAX_PAGE } from '../engine/list.js'
import {
  type EngineFailure,
  failure,
  type ListResponse,
  type ObjectSummary,
  type ProofResponse,
  type ReadResponse,
  readSuccess,
  type StoreResponse,
} from '../engine/responses.js'
import { type Dialer, describeTarget, exchangeFailure, openExchange, type PeerTarget } from './dial.js'
import { FrameInvalidError, FrameTooLargeError, RemoteError, WriteOutcomeUnknownError } from './errors.js'
import { unexpected } from './frame-reader.js'
import type { FrameStream } from './frame-stream.js'
import { encodeJsonFrame, type Frame, type JsonObject } from './frames.js'
import {
  type ListRequest,
  type ProofRequest,
  parseFailure,
  parseListHeader,
  parseObjectSummary,
  parseProofSuccess,
  parseReadHeader,
  parseReadTrailer,
  parseStoreSuccess,
  type ReadHeader,
  type ReadRequest,
  type ReadTrailer,
  type WriteRequest,
} from './messages-public.js'
import { type Limits, PROTOCOLS, resolveLimits } from './protocols.js'
import { sendStreamed, sendWhole } from './send-content.js'
import { ContentVerifier } from './verify.js'

export interface StorageClientComponents {
  libp2p: Dialer
}

export interface StorageClientInit {
  limits?: Partial<Limits>
  /** Parameters read headers' records are checked against (default DEFAULT_PARAMS). */
  params?: ProtocolParams
  /** Most frame bytes one list page may carry (default MAX_LIST_PAGE_BYTES). */
  maxListPageBytes?: number
}

/**
 * Most bytes of summary frames in one `list_objects` page. A page is held whole, and each of its
 * 1000 summaries may be a frame of up to 1 MiB of valid metadata (the core bounds no list in it), so
 * without this a node could make a client hold a gigabyte for one page. Within this node's metadata
 * limits (docs/protocol.md 4.1) a summary is under 32 KiB, a full page under 32 MiB.
 */
export const MAX_LIST_PAGE_BYTES = 64 * 1024 * 1024

/** Content given whole up to this size is sent with its request in one send (`put`). */
const WHOLE_WRITE_BYTES = 64 * 1024

export interface ClientOptions {
  signal?: AbortSignal
}

export interface PutOptions extends ClientOptions {
  /** Content bytes handed to the stream so far. */
  onProgress?: (sent: number) => void
}

export interface ReadOptions extends ClientOptions {
  /** Check every shard root and hash_commit against the header's record (default true). */
  verify?: boolean
}

export type Content = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>

/** An open read: the header now, the bytes as they stream, the trailer once they have. */
export interface OpenedRead extends ReadHeader {
  content: AsyncIterable<Uint8Array>
  /** Resolves after `content` ends: the replicas that served, or the failure that cut it short. */
  trailer: Promise<ReadTrailer | EngineFailure>
  /**
   * Resolves once the read's stream is done (the node sent all, reset it, or the read was cancelled):
   * the node no longer holds the read, whether or not `content` was consumed.
   */
  closed: Promise<void>
  /** Stops a read whose content will not be consumed. */
  cancel(): void
}

/**
 * The public operations over libp2p, from any libp2p node to any QFS node (the SDK's and the CLI's
 * transport). Remote failures come back as the QFS `{ok: false}` shapes; only a peer that cannot be
 * reached or does not speak the protocol makes a call throw (NodeUnavailableError).
 */
export class StorageClient {
  private readonly libp2p: Dialer
  private readonly limits: Limits
  private readonly params: ProtocolParams
  private readonly maxListPageBytes: number

  constructor(components: StorageClientComponents, init: StorageClientInit = {}) {
    this.libp2p = components.libp2p
    this.limits = resolveLimits(init.limits)
    this.params = init.params ?? DEFAULT_PARAMS
    this.maxListPageBytes = init.maxListPageBytes ?? MAX_LIST_PAGE_BYTES
  }

  /** Stores a version; `content_size` may be left out when the content is one Uint8Array. */
  async put(
    peer: PeerTarget,
    request: Omit<WriteRequest, 'content_size' | 'kind'> & { content_size?: number },
    content: Content,
    options: PutOptions = {},
  ): Promise<StoreResponse> {
    const size = request.content_size ?? (content instanceof Uint8Array ? content.length : undefined)
    if (size === undefined) throw new TypeError('content_size is required for streamed content')
    if (content instanceof Uint8Array && size === content.length && size <= WHOLE_WRITE_BYTES) {
      return this.write(peer, { ...request, content_size: size }, content, options)
    }
    const chunks = content instanceof Uint8Array ? [content] : content
    return this.write(peer, { ...request, content_size: size }, chunks, options)
  }

  /** Writes a DELETE_MARKER version: history stays, a read of the latest answers not found. */
  delete(
    peer: PeerTarget,
    request: Omit<WriteRequest, 'content_size' | 'kind'>,
    options: ClientOptions = {},
  ): Promise<StoreResponse> {
    return this.write(peer, { ...request, content_size: 0, kind: 'DELETE_MARKER' }, [], options)
  }

  private async write(
    peer: PeerTarget,
    request: WriteRequest,
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Uint8Array,
    options: PutOptions,
  ): Promise<StoreResponse> {
    const encoded = encodeRequest(request)
    if (!Array.isArray(encoded)) return encoded
    const who = describeTarget(peer)
    const signal = options.signal
    const fs = await this.open(peer, PROTOCOLS.write, signal)
    let delivered = false
    const sent = () => {
      delivered = true
    }
    try {
      const refused =
        chunks instanceof Uint8Array
          ? await sendWhole(fs, encoded, chunks, options, sent)
          : await sendStreamed(fs, encoded, chunks, options, sent)
      if (refused !== undefined) return refused
      const answer = await this.answer(fs, signal, (v) => parseStoreSuccess(v))
      fs.done()
      return answer
    } catch (err) {
      fs.abort(err as Error)
      // Past END the node may have decided the version before it failed, or before the caller gave
      // up waiting: say so, not "unavailable".
      if (delivered && !(err instanceof RemoteError)) {
        throw new WriteOutcomeUnknownError(
          `${who} received the whole content, then the exchange ended before its answer: the write may have taken effect; sending the identical write again is safe (it completes or confirms it)`,
          { cause: err },
        )
      }
      throw exchangeFailure(err, who)
    }
  }

  /**
   * Opens a read. Consume `content` (or `cancel()`): it yields the bytes as they arrive and, with
   * `verify` (the default), throws INTEGRITY_MISMATCH at the first shard or at the end whose bytes
   * do not match the header's record. A failure the node reports mid-stream is thrown as a RemoteError
   * and also resolves `trailer` with the failure shape.
   */
  async read(
    peer: PeerTarget,
    request: ReadRequest,
    options: ReadOptions = {},
  ): Promise<OpenedRead | EngineFailure> {
    const encoded = encodeRequest(request)
    if (!Array.isArray(encoded)) return encoded
    const who = describeTarget(peer)
    const signal = options.signal
    const fs = await this.open(peer, PROTOCOLS.read, signal)
    let header: ReadHeader
    try {
      await fs.write(encoded, signal)
      await fs.close(signal)
      const first = await fs.read(signal)
      const early = firstAnswer(first)
      if (early !== undefined) {
        fs.done()
        return early
      }
      header = parseReadHeader((first as Extract<Frame, { type: 'json' }>).value, this.params)
    } catch (err) {
      fs.abort(err as Error)
      throw exchangeFailure(err, who)
    }
    const verifier = options.verify === false ? undefined : new ContentVerifier(header.record)
    let settle: (value: ReadTrailer | EngineFailure) => void = () => {}
    const trailer = {
      promise: new Promise<ReadTrailer | EngineFailure>((resolve) => (settle = resolve)),
      resolve: (v: ReadTrailer | EngineFailure) => settle(v),
    }
    const eventId = header.storage_event_id
    let done = false
    // After cancel() the content ends quietly: nothing more is yielded (not even what was already
    // received), and the stream it aborted is no failure of the node's.
    let cancelled = false
    async function* content(): AsyncGenerator<Uint8Array> {
      try {
        for (;;) {
          if (cancelled) return
          const frame = await fs.read(signal)
          if (frame.type === 'data') {
            for (const chunk of frame.chunks) {
              if (cancelled) return
              verifier?.update(chunk)
              yield chunk
            }
            continue
          }
          if (frame.type !== 'json') throw unexpected(frame, 'DATA or the trailer')
          const end = parseReadTrailer(frame.value)
          verifier?.finish()
          done = true
          fs.done()
          trailer.resolve(end)
          return
        }
      } catch (err) {
        if (cancelled) return
        // The node's own verdict and our verification stand; anything else means it stopped serving.
        const failed =
          err instanceof RemoteError || err instanceof IntegrityMismatchError
            ? err
            : exchangeFailure(err, who)
        trailer.resolve(failure(failed, eventId))
        throw failed
      } finally {
        if (!done) {
          fs.abort(new Error('read ended early'))
          trailer.resolve(failure(new RemoteError('CANCELLED', 'SE_ERR_INTERNAL', 'read cancelled'), eventId))
        }
      }
    }
    return {
      ...header,
      content: content(),
      trailer: trailer.promise,
      closed: fs.whenClosed(),
      cancel: () => {
        if (done) return
        done = true
        cancelled = true
        fs.abort(new Error('read cancelled'))
        trailer.resolve(failure(new RemoteError('CANCELLED', 'SE_ERR_INTERNAL', 'read cancelled'), eventId))
      },
    }
  }

  /** A whole read in memory, in the QFS read shape (`content_bytes`). */
  async readAll(peer: PeerTarget, request: ReadRequest, options: ReadOptions = {}): Promise<ReadResponse> {
    const opened = await this.read(peer, request, options)
    if (!opened.ok) return opened
    const parts: Uint8Array[] = []
    try {
      for await (const piece of opened.content) parts.push(piece)
    } catch (err) {
      if (err instanceof QfsError && err.code === 'NODE_UNAVAILABLE') throw err
      return failure(err, opened.storage_event_id)
    }
    const end = await opened.trailer
    if (!end.ok) return end
    return readSuccess({ ...opened, proofs: end.proofs }, parts)
  }

  getProof(peer: PeerTarget, request: ProofRequest, options: ClientOptions = {}): Promise<ProofResponse> {
    return this.call(peer, PROTOCOLS.getProof, request, options, async (_fs, _signal, first) =>
      parseProofSuccess(first),
    )
  }

  list(peer: PeerTarget, request: ListRequest = {}, options: ClientOptions = {}): Promise<ListResponse> {
    return this.call(peer, PROTOCOLS.listObjects, request, options, async (fs, signal, first) => {
      const header = parseListHeader(first)
      const objects: ObjectSummary[] = []
      let bytes = 0
      for (;;) {
        const frame = await fs.read(signal)
        if (frame.type === 'end') return { ...header, objects }
        if (frame.type !== 'json') throw unexpected(frame, 'an object summary or END')
        if (objects.length === MAX_PAGE)
          throw new FrameInvalidError(`more than ${MAX_PAGE} objects in one page`)
        bytes += frame.size
        if (bytes > this.maxListPageBytes)
          throw new FrameTooLargeError(`more than ${this.maxListPageBytes} bytes of objects in one page`)
        objects.push(parseObjectSummary(frame.value))
      }
    })
  }

  /** Request, then the first frame: a failure shape, or a success the caller parses (and continues). */
  private async call<T>(
    peer: PeerTarget,
    protocol: string,
    request: object,
    options: ClientOptions,
    success: (fs: FrameStream, signal: AbortSignal | undefined, first: JsonObject) => Promise<T>,
  ): Promise<T | EngineFailure> {
    const encoded = encodeRequest(request)
    if (!Array.isArray(encoded)) return encoded
    const who = describeTarget(peer)
    // Each frame of the answer must arrive whole within the idle timeout; the caller's signal bounds
    // the whole.
    const signal = options.signal
    const fs = await this.open(peer, protocol, signal)
    try {
      await fs.write(encoded, signal)
      await fs.close(signal)
      const answer = await this.answer(fs, signal, (first) => success(fs, signal, first))
      fs.done()
      return answer
    } catch (err) {
      fs.abort(err as Error)
      throw exchangeFailure(err, who)
    }
  }

  private async answer<T>(
    fs: FrameStream,
    signal: AbortSignal | undefined,
    success: (first: JsonObject) => T | Promise<T>,
  ): Promise<T | EngineFailure> {
    const first = await fs.read(signal)
    return firstAnswer(first) ?? (await success((first as Extract<Frame, { type: 'json' }>).value))
  }

  private open(peer: PeerTarget, protocol: string, signal: AbortSignal | undefined): Promise<FrameStream> {
    return underDeadline(signal, this.limits.requestTimeoutMs, (opening) =>
      openExchange(this.libp2p, peer, protocol, this.limits, opening, describeTarget(peer)),
    )
  }
}

/**
 * The request frame, built before any stream opens: a request that has no canonical JSON form (an
 * undefined or non-finite value inside metadata, say) is the caller's INVALID_INPUT, not a node's
 * failure. Fields set to undefined are left out.
 */
function encodeRequest(request: object): Uint8Array[] | EngineFailure {
  try {
    const fields: JsonObject = {}
    for (const [key, value] of Object.entries(request)) if (value !== undefined) fields[key] = value
    if (fields.filters !== null && typeof fields.filters === 'object' && !Array.isArray(fields.filters)) {
      const filters: JsonObject = {}
      for (const [key, value] of Object.entries(fields.filters)) if (value !== undefined) filters[key] = value
      fields.filters = filters
    }
    return encodeJsonFrame(fields)
  } catch (err) {
    return failure(err instanceof QfsError ? err : new InvalidInputError('request has no JSON form'), null)
  }
}

/** A failure in either wire form (ERROR frame or `{ok:false}` JSON), or undefined for a success frame. */
function firstAnswer(frame: Frame): EngineFailure | undefined {
  if (frame.type === 'error') {
    return { ok: false, ...frame.error, storage_event_id: null }
  }
  if (frame.type !== 'json') throw unexpected(frame, 'a JSON answer')
  return frame.value.ok === false ? parseFailure(frame.value) : undefined
}
