/**
 * Every failure the node reports carries a stable `code`. Messages are for people and may change;
 * programs (the wire, the CLI exit status, HTTP) switch on `code` only.
 */
export class QfsError extends Error {
  readonly code: string

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** A request value of the wrong shape: a non-hex id, a negative version, a bad parameter. */
export class InvalidInputError extends QfsError {
  static readonly code = 'INVALID_INPUT'
  constructor(message: string, options?: ErrorOptions) {
    super(InvalidInputError.code, message, options)
  }
}

/** Metadata that does not match the frozen schema of PROTOCOL.md. */
export class InvalidMetadataError extends QfsError {
  static readonly code = 'INVALID_METADATA'
  constructor(message: string, options?: ErrorOptions) {
    super(InvalidMetadataError.code, message, options)
  }
}

/** Text that is not a strict BigNum128 decimal. */
export class InvalidNumberError extends QfsError {
  static readonly code = 'INVALID_NUMBER'
  constructor(message: string, options?: ErrorOptions) {
    super(InvalidNumberError.code, message, options)
  }
}

export class OverflowError extends QfsError {
  static readonly code = 'OVERFLOW'
  constructor(message: string, options?: ErrorOptions) {
    super(OverflowError.code, message, options)
  }
}

export class UnderflowError extends QfsError {
  static readonly code = 'UNDERFLOW'
  constructor(message: string, options?: ErrorOptions) {
    super(UnderflowError.code, message, options)
  }
}

export class DivisionByZeroError extends QfsError {
  static readonly code = 'DIVISION_BY_ZERO'
  constructor(message: string, options?: ErrorOptions) {
    super(DivisionByZeroError.code, message, options)
  }
}

/** Fewer eligible nodes than the replication factor: no write is accepted under-replicated. */
export class InsufficientNodesError extends QfsError {
  static readonly code = 'INSUFFICIENT_NODES'
  constructor(message: string, options?: ErrorOptions) {
    super(InsufficientNodesError.code, message, options)
  }
}

/** An empty shard has no leaf, so it cannot be challenged. */
export class EmptyShardError extends QfsError {
  static readonly code = 'EMPTY_SHARD'
  constructor(message: string, options?: ErrorOptions) {
    super(EmptyShardError.code, message, options)
  }
}

export class InvalidMetricsError extends QfsError {
  static readonly code = 'INVALID_METRICS'
  constructor(message: string, options?: ErrorOptions) {
    super(InvalidMetricsError.code, message, options)
  }
}

export class DuplicateNodeError extends QfsError {
  static readonly code = 'DUPLICATE_NODE'
  constructor(message: string, options?: ErrorOptions) {
    super(DuplicateNodeError.code, message, options)
  }
}

/** The finite error set of the QFS StorageEngine interface spec. */
export const STORAGE_ERROR_CODES = [
  'SE_ERR_NOT_FOUND',
  'SE_ERR_INVALID_VERSION',
  'SE_ERR_INVALID_INPUT',
  'SE_ERR_NO_ELIGIBLE_NODES',
  'SE_ERR_PROOF_UNAVAILABLE',
  'SE_ERR_INTEGRITY_MISMATCH',
  'SE_ERR_AEGIS_CONTEXT_MISSING',
  'SE_ERR_INTERNAL',
] as const
export type StorageErrorCode = (typeof STORAGE_ERROR_CODES)[number]

/**
 * Fine codes map onto the interface's finite set; anything unknown is internal. Modules outside the
 * core register their own fine codes here by name only, so the core never imports them.
 */
const STORAGE_CODE_OF: Readonly<Record<string, StorageErrorCode>> = {
  INVALID_INPUT: 'SE_ERR_INVALID_INPUT',
  INVALID_METADATA: 'SE_ERR_INVALID_INPUT',
  INVALID_NUMBER: 'SE_ERR_INVALID_INPUT',
  OVERFLOW: 'SE_ERR_INVALID_INPUT',
  UNDERFLOW: 'SE_ERR_INVALID_INPUT',
  DIVISION_BY_ZERO: 'SE_ERR_INVALID_INPUT',
  INVALID_METRICS: 'SE_ERR_INVALID_INPUT',
  DUPLICATE_NODE: 'SE_ERR_INVALID_INPUT',
  INSUFFICIENT_NODES: 'SE_ERR_NO_ELIGIBLE_NODES',
  EMPTY_SHARD: 'SE_ERR_PROOF_UNAVAILABLE',
  NOT_FOUND: 'SE_ERR_NOT_FOUND',
  VERSION_CONFLICT: 'SE_ERR_INVALID_VERSION',
  INVALID_VERSION: 'SE_ERR_INVALID_VERSION',
  ROOT_MISMATCH: 'SE_ERR_INTEGRITY_MISMATCH',
  INTEGRITY_MISMATCH: 'SE_ERR_INTEGRITY_MISMATCH',
  // src/sdk: the other nodes asked do not list a version as the node talked to served it.
  NOT_CONFIRMED: 'SE_ERR_INTEGRITY_MISMATCH',
  PROOF_UNAVAILABLE: 'SE_ERR_PROOF_UNAVAILABLE',
  NO_ELIGIBLE_NODES: 'SE_ERR_NO_ELIGIBLE_NODES',
  AEGIS_CONTEXT_MISSING: 'SE_ERR_AEGIS_CONTEXT_MISSING',
  QUORUM_NOT_REACHED: 'SE_ERR_NO_ELIGIBLE_NODES',
  // A commit to a holder that is no home, without a majority of the homes' acceptances.
  NOT_DECIDED: 'SE_ERR_INVALID_INPUT',
  // src/net (docs/protocol.md): a bad frame or message is bad input; an ineligible peer lacks AEGIS context.
  FRAME_INVALID: 'SE_ERR_INVALID_INPUT',
  FRAME_TOO_LARGE: 'SE_ERR_INVALID_INPUT',
  UNKNOWN_MESSAGE: 'SE_ERR_INVALID_INPUT',
  UNEXPECTED_FRAME: 'SE_ERR_INVALID_INPUT',
  CONTENT_TOO_LARGE: 'SE_ERR_INVALID_INPUT',
  NOT_ELIGIBLE: 'SE_ERR_AEGIS_CONTEXT_MISSING',
  // A coordinator at its cap of concurrent writes: like QUORUM_NOT_REACHED, no capacity now, retry is safe.
  NODE_BUSY: 'SE_ERR_NO_ELIGIBLE_NODES',
  // src/store: a node without room for more shard data; the write may fit on the network later.
  STORAGE_FULL: 'SE_ERR_NO_ELIGIBLE_NODES',
  // src/engine: every replica of a shard down or without it (none served bad bytes); retry later.
  SHARD_UNAVAILABLE: 'SE_ERR_NO_ELIGIBLE_NODES',
  // src/membership: no epoch snapshot in force, or one that failed verification.
  NO_SNAPSHOT: 'SE_ERR_AEGIS_CONTEXT_MISSING',
  SNAPSHOT_REJECTED: 'SE_ERR_AEGIS_CONTEXT_MISSING',
}

export function storageErrorCode(err: unknown): StorageErrorCode {
  if (err instanceof QfsError) {
    if ((STORAGE_ERROR_CODES as readonly string[]).includes(err.code)) return err.code as StorageErrorCode
    return STORAGE_CODE_OF[err.code] ?? 'SE_ERR_INTERNAL'
  }
  return 'SE_ERR_INTERNAL'
}

/**
 * `text` with its control characters as JSON escapes (`\n`, `\u001b`), for an error line: a
 * message quoting input (JSON.parse quotes the text around its fault, line breaks and all; a key read
 * from a file) must stay the one line a script reads, and must not send a terminal escapes.
 */
export function oneLine(text: string): string {
  return text.replace(/\p{Cc}/gu, (c) => JSON.stringify(c).slice(1, -1))
}
