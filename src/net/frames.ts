import { Uint8ArrayList } from 'uint8arraylist'
import { utf8 } from '../core/bytes.js'
import { canonicalJson } from '../core/canonical.js'
import { QfsError } from '../core/errors.js'
import { safeDetail } from '../engine/responses.js'
import {
  FrameInvalidError,
  FrameTooLargeError,
  isStorageErrorCode,
  UnknownMessageError,
  type WireError,
} from './errors.js'

/**
 * The framing of every QFS storage stream (docs/protocol.md "Frames"): an unsigned LEB128 varint
 * length (minimal encoding, as multiformats unsigned-varint and libp2p's lpStream use), then that many
 * bytes whose first byte is the frame type. One spelling per frame: JSON bodies must be RFC 8785
 * canonical, varints minimal, DATA bodies non-empty, END bodies empty.
 */
export const FRAME_JSON = 0x01
export const FRAME_DATA = 0x02
export const FRAME_END = 0x03
export const FRAME_ERROR = 0x04
/**
 * An empty frame a coordinator sends on a replica/push stream while it waits for its client's bytes,
 * so the replica does not take the wait for a vanished sender (docs/protocol.md 2, 4.6). Only a decoder
 * told to accept it does; anywhere else it is an unknown frame type, as before.
 */
export const FRAME_KEEPALIVE = 0x05

/** Largest DATA body: one frame carries at most 1 MiB of content or block bytes. */
export const MAX_DATA_BYTES = 1_048_576
/** Largest frame (type byte plus body); the default receive limit. */
export const MAX_FRAME_BYTES = MAX_DATA_BYTES + 1
/**
 * Largest JSON frame a server accepts as a request (type byte plus body): 256 KiB of JSON. The
 * largest request our nodes send is a `replica/abort` of 1024 staging ids (~35 KiB) or a
 * `replica/commit` whose record carries the node-limited metadata (under ~40 KiB); answers, which
 * carry base64 blocks (`replica/prove`, `get_proof`), stay under the general MAX_FRAME_BYTES.
 */
export const MAX_REQUEST_JSON_FRAME_BYTES = 256 * 1024 + 1
/**
 * Deepest nesting of `[` and `{` a JSON frame may have. The deepest messages are 6 levels (a replica
 * channel's commit request: envelope, body, record, shards, a shard, its replicas); 32 leaves room
 * for growth and matches the log's bound on `details`. JSON.parse and the canonical check cost
 * superlinear time in depth, so the bound is checked by a linear scan before either runs.
 */
export const MAX_JSON_DEPTH = 32
/** Longest `code` in an ERROR frame and longest `error_detail` (characters). */
export const MAX_ERROR_CODE_CHARS = 64
export const MAX_ERROR_DETAIL_CHARS = 1024

const MAX_VARINT_BYTES = 4 // enough for any length below 2^28; longer prefixes are rejected outright
const ERROR_KEYS = ['code', 'error_code', 'error_detail'] as const
const CODE_RE = /^[A-Z][A-Z0-9_]*$/
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

export type JsonObject = Record<string, unknown>

export type Frame =
  | { type: 'json'; value: JsonObject; size: number }
  /** A DATA body as the views the transport delivered it in: never copied to be made contiguous. */
  | { type: 'data'; chunks: Uint8Array[]; size: number }
  | { type: 'end'; size: number }
  | { type: 'error'; error: WireError; size: number }

/** Minimal unsigned LEB128. */
export function encodeVarint(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new FrameInvalidError(`varint out of range: ${n}`)
  const out: number[] = []
  let v = n
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = (v - (v % 0x80)) / 0x80
  }
  out.push(v)
  return Uint8Array.from(out)
}

function header(type: number, bodyLength: number): Uint8Array {
  const prefix = encodeVarint(bodyLength + 1)
  const out = new Uint8Array(prefix.length + 1)
  out.set(prefix, 0)
  out[prefix.length] = type
  return out
}

/**
 * A frame as the pieces to hand to a stream: the prefix and the body stay separate so a DATA body is
 * never copied on the way out.
 */
export function encodeDataFrame(bytes: Uint8Array): Uint8Array[] {
  if (!(bytes instanceof Uint8Array)) throw new FrameInvalidError('DATA body must be bytes')
  if (bytes.length === 0) throw new FrameInvalidError('a DATA frame carries at least one byte')
  if (bytes.length > MAX_DATA_BYTES)
    throw new FrameTooLargeError(`DATA body of ${bytes.length} bytes exceeds ${MAX_DATA_BYTES}`)
  return [header(FRAME_DATA, bytes.length), bytes]
}

export function encodeJsonFrame(value: JsonObject): Uint8Array[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FrameInvalidError('a JSON frame carries an object')
  }
  const body = utf8(canonicalJson(value))
  if (body.length + 1 > MAX_FRAME_BYTES) {
    throw new FrameTooLargeError(`JSON message of ${body.length} bytes exceeds the frame limit`)
  }
  return [header(FRAME_JSON, body.length), body]
}

export function encodeEndFrame(): Uint8Array[] {
  return [header(FRAME_END, 0)]
}

export function encodeKeepAliveFrame(): Uint8Array[] {
  return [header(FRAME_KEEPALIVE, 0)]
}

export function encodeErrorFrame(error: WireError): Uint8Array[] {
  const body = utf8(canonicalJson(checkWireError(error)))
  return [header(FRAME_ERROR, body.length), body]
}

/** A DATA body in one buffer (copied only when it arrived in several pieces). */
export function dataBytes(frame: Extract<Frame, { type: 'data' }>): Uint8Array {
  return frame.chunks.length === 1 ? frame.chunks[0]! : new Uint8ArrayList(...frame.chunks).subarray()
}

/** Concatenated bytes of one frame (tests, and peers that want one buffer). */
export function frameBytes(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8ArrayList(...parts).subarray()
}

/** Decodes one frame's content (type byte plus body), as delimited by its length prefix. */
export function decodeFrameContent(content: Uint8Array): Frame {
  if (content.length === 0) throw new FrameInvalidError('empty frame: no type byte')
  const type = content[0]!
  const body = content.subarray(1)
  const size = content.length
  switch (type) {
    case FRAME_DATA:
      if (body.length === 0) throw new FrameInvalidError('a DATA frame carries at least one byte')
      return { type: 'data', chunks: [body], size }
    case FRAME_JSON:
      return { type: 'json', value: decodeJson(body), size }
    case FRAME_END:
      if (body.length !== 0) throw new FrameInvalidError('an END frame has no body')
      return { type: 'end', size }
    case FRAME_ERROR:
      return { type: 'error', error: checkWireError(decodeJson(body)), size }
    default:
      throw new UnknownMessageError(`unknown frame type 0x${type.toString(16).padStart(2, '0')}`)
  }
}

/**
 * Refuses JSON nested deeper than MAX_JSON_DEPTH in one pass over the bytes, tracking only whether
 * it is inside a string and after a backslash. UTF-8 continuation and lead bytes are all >= 0x80, so
 * they never look like the ASCII structural characters; malformed input is left to JSON.parse.
 */
export function checkJsonDepth(body: Uint8Array, maxDepth: number = MAX_JSON_DEPTH): void {
  let depth = 0
  let inString = false
  let escaped = false
  for (let i = 0; i < body.length; i++) {
    const b = body[i]!
    if (inString) {
      if (escaped) escaped = false
      else if (b === 0x5c) escaped = true
      else if (b === 0x22) inString = false
    } else if (b === 0x22) {
      inString = true
    } else if (b === 0x5b || b === 0x7b) {
      depth++
      if (depth > maxDepth) throw new FrameInvalidError(`JSON frame nested deeper than ${maxDepth} levels`)
    } else if (b === 0x5d || b === 0x7d) {
      depth--
    }
  }
}

/** Strict JSON: valid UTF-8, an object at top level, and in RFC 8785 canonical form (one spelling). */
export function decodeJson(body: Uint8Array): JsonObject {
  checkJsonDepth(body)
  let text: string
  try {
    text = decoder.decode(body)
  } catch (err) {
    throw new FrameInvalidError('JSON frame is not valid UTF-8', { cause: err })
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new FrameInvalidError('JSON frame does not parse', { cause: err })
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FrameInvalidError('JSON frame must hold an object')
  }
  let canonical: string
  try {
    canonical = canonicalJson(value)
  } catch (err) {
    throw new FrameInvalidError('JSON frame has no canonical form', { cause: err })
  }
  // Also rejects duplicate keys (JSON.parse keeps the last), white space and other spellings.
  if (canonical !== text) throw new FrameInvalidError('JSON frame is not in RFC 8785 canonical form')
  return value as JsonObject
}

export function checkWireError(input: unknown): WireError {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new FrameInvalidError('ERROR body must be an object')
  }
  const e = input as Record<string, unknown>
  const keys = Object.keys(e)
  if (keys.length !== ERROR_KEYS.length || !ERROR_KEYS.every((k) => Object.hasOwn(e, k))) {
    throw new FrameInvalidError(`ERROR body must have exactly ${ERROR_KEYS.join(', ')}`)
  }
  if (typeof e.code !== 'string' || e.code.length > MAX_ERROR_CODE_CHARS || !CODE_RE.test(e.code)) {
    throw new FrameInvalidError('ERROR code must be 1..64 characters of A-Z, 0-9 and _')
  }
  if (!isStorageErrorCode(e.error_code))
    throw new FrameInvalidError('ERROR error_code must be an SE_ERR_* code')
  if (typeof e.error_detail !== 'string' || e.error_detail.length > MAX_ERROR_DETAIL_CHARS) {
    throw new FrameInvalidError(
      `ERROR error_detail must be a string of at most ${MAX_ERROR_DETAIL_CHARS} characters`,
    )
  }
  return { code: e.code, error_code: e.error_code, error_detail: e.error_detail }
}

/** The ERROR body for any failure: internal errors never leak (engine `failure` rules). */
export function wireErrorOf(
  err: unknown,
  toStorageCode: (err: unknown) => WireError['error_code'],
): WireError {
  const code =
    err instanceof QfsError && CODE_RE.test(err.code) && err.code.length <= MAX_ERROR_CODE_CHARS
      ? err.code
      : 'INTERNAL'
  // The engine's rule: our own client-facing messages, bounded; a fixed phrase for anything internal.
  return { code, error_code: toStorageCode(err), error_detail: safeDetail(err) }
}

/**
 * Incremental decoder: feed it whatever the transport delivers, take out whole frames. The length
 * is checked against `maxFrameBytes` as soon as the prefix is read, so an oversized frame is refused
 * before any of its body is buffered. After an error the decoder stays failed.
 */
export class FrameDecoder {
  private readonly buffer = new Uint8ArrayList()
  private readonly maxFrameBytes: number
  private readonly maxJsonFrameBytes: number
  private readonly acceptKeepAlive: boolean
  /** A frame other than KEEPALIVE was decoded: the request is in, so keep-alives may follow. */
  private started = false
  private keepAlivesTaken = 0
  private failed: Error | undefined

  /**
   * `maxJsonFrameBytes` bounds JSON frames apart from the others (a server reading requests sets it
   * to MAX_REQUEST_JSON_FRAME_BYTES); it is checked once the type byte is in, before the body is.
   * With `acceptKeepAlive`, KEEPALIVE frames after the first frame (the request) are consumed and
   * yield nothing; before it, they are as unknown as anywhere else: a stream must say what it is
   * before it may be kept open.
   */
  constructor(
    maxFrameBytes: number = MAX_FRAME_BYTES,
    maxJsonFrameBytes: number = maxFrameBytes,
    acceptKeepAlive = false,
  ) {
    if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1 || maxFrameBytes > MAX_FRAME_BYTES) {
      throw new FrameInvalidError(`maxFrameBytes must be in 1..${MAX_FRAME_BYTES}`)
    }
    if (
      !Number.isSafeInteger(maxJsonFrameBytes) ||
      maxJsonFrameBytes < 1 ||
      maxJsonFrameBytes > maxFrameBytes
    ) {
      throw new FrameInvalidError('maxJsonFrameBytes must be in 1..maxFrameBytes')
    }
    this.maxFrameBytes = maxFrameBytes
    this.maxJsonFrameBytes = maxJsonFrameBytes
    this.acceptKeepAlive = acceptKeepAlive
  }

  /** KEEPALIVE frames consumed so far. */
  get keepAlives(): number {
    return this.keepAlivesTaken
  }

  /** Bytes received but not yet part of a whole frame. */
  get buffered(): number {
    return this.buffer.byteLength
  }

  /** Appends bytes and returns every frame they complete, in order; throws the first framing error. */
  push(chunk: Uint8Array | Uint8ArrayList): Frame[] {
    if (this.failed !== undefined) throw this.failed
    if (chunk.byteLength > 0) this.buffer.append(chunk)
    const frames: Frame[] = []
    try {
      for (;;) {
        const frame = this.next()
        if (frame === undefined) break
        if (frame === null) continue
        this.started = true
        frames.push(frame)
      }
    } catch (err) {
      this.failed = err as Error
      this.buffer.consume(this.buffer.byteLength)
      if (frames.length === 0) throw err
    }
    return frames
  }

  /** The framing error that stopped the decoder, if any (reported after the frames before it). */
  get error(): Error | undefined {
    return this.failed
  }

  /** The next whole frame, undefined when more bytes are needed, null for a KEEPALIVE consumed. */
  private next(): Frame | null | undefined {
    const available = this.buffer.byteLength
    let length = 0
    let scale = 1
    let prefix = 0
    for (;;) {
      if (prefix === available) return undefined
      const byte = this.buffer.get(prefix)
      prefix++
      length += (byte & 0x7f) * scale
      if (length > this.maxFrameBytes) {
        throw new FrameTooLargeError(`frame of more than ${this.maxFrameBytes} bytes announced`)
      }
      if ((byte & 0x80) === 0) {
        if (byte === 0 && prefix > 1) throw new FrameInvalidError('length prefix is not minimally encoded')
        break
      }
      if (prefix === MAX_VARINT_BYTES) throw new FrameTooLargeError('length prefix too long')
      scale *= 0x80
    }
    if (length === 0) throw new FrameInvalidError('empty frame: no type byte')
    if (length > this.maxJsonFrameBytes && available > prefix && this.buffer.get(prefix) === FRAME_JSON) {
      throw new FrameTooLargeError(`JSON frame of more than ${this.maxJsonFrameBytes} bytes announced`)
    }
    if (available - prefix < length) return undefined
    if (this.acceptKeepAlive && this.started && this.buffer.get(prefix) === FRAME_KEEPALIVE) {
      if (length !== 1) throw new FrameInvalidError('a KEEPALIVE frame has no body')
      this.buffer.consume(prefix + length)
      this.keepAlivesTaken++
      return null
    }
    if (this.buffer.get(prefix) === FRAME_DATA && length > 1) {
      // Views of the received chunks: the body is handed on without a copy.
      const chunks = [...this.buffer.sublist(prefix + 1, prefix + length)]
      this.buffer.consume(prefix + length)
      return { type: 'data', chunks, size: length }
    }
    const content = this.buffer.subarray(prefix, prefix + length)
    this.buffer.consume(prefix + length)
    return decodeFrameContent(content)
  }
}
