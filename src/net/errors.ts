import { QfsError, STORAGE_ERROR_CODES, type StorageErrorCode } from '../core/errors.js'

/**
 * Failures of the wire protocol itself (docs/protocol.md "Error codes"). Each has a stable code that
 * travels in ERROR frames; src/core/errors.ts maps them onto the finite SE_ERR_* set.
 */

/** A frame that breaks the framing rules: bad length prefix, empty frame, bad JSON, bad ERROR body. */
export class FrameInvalidError extends QfsError {
  static readonly code = 'FRAME_INVALID'
  constructor(message: string, options?: ErrorOptions) {
    super(FrameInvalidError.code, message, options)
  }
}

/** A frame whose announced length exceeds the receiver's limit (checked before its body is read). */
export class FrameTooLargeError extends QfsError {
  static readonly code = 'FRAME_TOO_LARGE'
  constructor(message: string, options?: ErrorOptions) {
    super(FrameTooLargeError.code, message, options)
  }
}

/** A frame type byte this protocol version does not define. */
export class UnknownMessageError extends QfsError {
  static readonly code = 'UNKNOWN_MESSAGE'
  constructor(message: string, options?: ErrorOptions) {
    super(UnknownMessageError.code, message, options)
  }
}

/** A well-formed frame where the exchange expects another kind (DATA before the request, ...). */
export class UnexpectedFrameError extends QfsError {
  static readonly code = 'UNEXPECTED_FRAME'
  constructor(message: string, options?: ErrorOptions) {
    super(UnexpectedFrameError.code, message, options)
  }
}

/** A peer outside the epoch's eligible set asked for a node-to-node operation (Sybil resistance). */
export class NotEligibleError extends QfsError {
  static readonly code = 'NOT_ELIGIBLE'
  constructor(message: string, options?: ErrorOptions) {
    super(NotEligibleError.code, message, options)
  }
}

/** A replica/rpc `snapshot` request for an epoch whose snapshot the node does not hold. */
export class SnapshotNotHeldError extends QfsError {
  static readonly code = 'NOT_FOUND'
  constructor(message: string, options?: ErrorOptions) {
    super(SnapshotNotHeldError.code, message, options)
  }
}

/** A write announcing more content than the serving node accepts. */
export class ContentTooLargeError extends QfsError {
  static readonly code = 'CONTENT_TOO_LARGE'
  constructor(message: string, options?: ErrorOptions) {
    super(ContentTooLargeError.code, message, options)
  }
}

/**
 * This node already coordinates as many public writes as it takes at once (`limits.max_concurrent_writes`):
 * not now, rather than never; the same write may be retried later or through another node.
 */
export class NodeBusyError extends QfsError {
  static readonly code = 'NODE_BUSY'
  constructor(message: string, options?: ErrorOptions) {
    super(NodeBusyError.code, message, options)
  }
}

/**
 * A public write whose client did not deliver its content (DATA up to END) fast enough: once the node
 * has waited for it longer than `limits.write_min_deadline_ms` plus 1 s per
 * `limits.write_min_bytes_per_second` bytes it delivered, or longer than the stall window for any
 * 256 KiB (docs/protocol.md 4.2).
 */
export class WriteTooSlowError extends QfsError {
  static readonly code = 'WRITE_TOO_SLOW'
  constructor(message: string, options?: ErrorOptions) {
    super(WriteTooSlowError.code, message, options)
  }
}

/**
 * A public read whose client did not take the content fast enough: once the node has waited for it
 * to take bytes longer than `limits.read_min_deadline_ms` plus 1 s per
 * `limits.read_min_bytes_per_second` bytes it took (docs/protocol.md 4.3). The exchange ends without
 * a frame: a client that takes no bytes would not read one.
 */
export class ReadTooSlowError extends QfsError {
  static readonly code = 'READ_TOO_SLOW'
  constructor(message: string, options?: ErrorOptions) {
    super(ReadTooSlowError.code, message, options)
  }
}

/** The peer sent nothing for longer than the idle limit, or an exchange outlived its deadline. */
export class StreamTimeoutError extends QfsError {
  static readonly code = 'TIMEOUT'
  constructor(message: string, options?: ErrorOptions) {
    super(StreamTimeoutError.code, message, options)
  }
}

/** The stream ended (or was reset) before the exchange was complete. */
export class StreamEndedError extends QfsError {
  static readonly code = 'STREAM_ENDED'
  constructor(message: string, options?: ErrorOptions) {
    super(StreamEndedError.code, message, options)
  }
}

/**
 * A write whose whole content reached the node, which then stopped answering (it crashed, or the
 * connection broke): the version may or may not have been written. Sending the identical write again
 * (same bytes, metadata and tick) is safe: it completes the write or confirms it.
 */
export class WriteOutcomeUnknownError extends QfsError {
  static readonly code = 'WRITE_OUTCOME_UNKNOWN'
  constructor(message: string, options?: ErrorOptions) {
    super(WriteOutcomeUnknownError.code, message, options)
  }
}

/**
 * An error the remote node reported in an ERROR frame. `code` is the remote's own fine code
 * (VERSION_CONFLICT, NOT_FOUND, ...) so the coordinator's decisions survive the wire.
 */
export class RemoteError extends QfsError {
  readonly errorCode: StorageErrorCode
  readonly detail: string

  constructor(code: string, errorCode: StorageErrorCode, detail: string, options?: ErrorOptions) {
    super(code, detail, options)
    this.errorCode = errorCode
    this.detail = detail
  }
}

/** The body of an ERROR frame. */
export interface WireError {
  code: string
  error_code: StorageErrorCode
  error_detail: string
}

export function isStorageErrorCode(value: unknown): value is StorageErrorCode {
  return typeof value === 'string' && (STORAGE_ERROR_CODES as readonly string[]).includes(value)
}
