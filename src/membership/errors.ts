import { QfsError } from '../core/errors.js'

/** No epoch snapshot has been accepted yet: nothing can be placed or served to peers. */
export class NoSnapshotError extends QfsError {
  static readonly code = 'NO_SNAPSHOT'
  constructor(message: string, options?: ErrorOptions) {
    super(NoSnapshotError.code, message, options)
  }
}

/** Why a snapshot was refused; `verifySnapshot` answers these as a verdict instead of throwing. */
export type SnapshotVerdictCode =
  | 'MALFORMED'
  | 'HASH_MISMATCH'
  | 'UNTRUSTED_AUTHORITY'
  | 'BAD_SIGNATURE'
  | 'BROKEN_CHAIN'

/** A snapshot `SnapshotMembership.accept` refused; `reason` is the verdict code. */
export class SnapshotRejectedError extends QfsError {
  static readonly code = 'SNAPSHOT_REJECTED'
  readonly reason: SnapshotVerdictCode
  readonly detail: string

  constructor(reason: SnapshotVerdictCode, detail: string, options?: ErrorOptions) {
    super(SnapshotRejectedError.code, `${reason}: ${detail}`, options)
    this.reason = reason
    this.detail = detail
  }
}

/** The snapshot file exists but cannot be read (a directory in its place, no permission). */
export class SnapshotUnreadableError extends QfsError {
  static readonly code = 'SNAPSHOT_UNREADABLE'
  constructor(message: string, options?: ErrorOptions) {
    super(SnapshotUnreadableError.code, message, options)
  }
}

/** A verified snapshot whose parameters this node cannot serve (a block too large for a proof frame). */
export class ParamsUnsupportedError extends QfsError {
  static readonly code = 'PARAMS_UNSUPPORTED'
  constructor(message: string, options?: ErrorOptions) {
    super(ParamsUnsupportedError.code, message, options)
  }
}
