import { QfsError } from '../core/errors.js'

/**
 * The store's fine codes. `storageErrorCode` (src/core/errors.ts) maps each onto the StorageEngine's
 * finite `SE_ERR_*` set by its code alone, so the core never imports this module.
 */

/** The same version (or shard) already holds other content: history is append-only. */
export class VersionConflictError extends QfsError {
  static readonly code = 'VERSION_CONFLICT'
  constructor(message: string, options?: ErrorOptions) {
    super(VersionConflictError.code, message, options)
  }
}

/** A home accepts a version only as `latest + 1`: a gap or a rewrite of the past is refused. */
export class InvalidVersionError extends QfsError {
  static readonly code = 'INVALID_VERSION'
  constructor(message: string, options?: ErrorOptions) {
    super(InvalidVersionError.code, message, options)
  }
}

/** The staged bytes do not hash to the root (or length, leaf count) the version record names. */
export class RootMismatchError extends QfsError {
  static readonly code = 'ROOT_MISMATCH'
  constructor(message: string, options?: ErrorOptions) {
    super(RootMismatchError.code, message, options)
  }
}

export class NotFoundError extends QfsError {
  static readonly code = 'NOT_FOUND'
  constructor(message: string, options?: ErrorOptions) {
    super(NotFoundError.code, message, options)
  }
}

/** A stored block is missing or no longer hashes to its manifest's leaf: the node lost data. */
export class IntegrityMismatchError extends QfsError {
  static readonly code = 'INTEGRITY_MISMATCH'
  constructor(message: string, options?: ErrorOptions) {
    super(IntegrityMismatchError.code, message, options)
  }
}

/** The store was used before `open()` or after `close()`, or its database is not open. */
export class StoreClosedError extends QfsError {
  static readonly code = 'STORE_CLOSED'
  constructor(message = 'shard store is not open', options?: ErrorOptions) {
    super(StoreClosedError.code, message, options)
  }
}

/**
 * `prepareCommit` ran while nobody held the store's `writeLock`: its checks could be overtaken by a
 * concurrent staging or sweep, so it refuses (a wiring bug, not a request error).
 */
export class WriteLockNotHeldError extends QfsError {
  static readonly code = 'WRITE_LOCK_NOT_HELD'
  constructor(message = 'prepareCommit must run under the store writeLock', options?: ErrorOptions) {
    super(WriteLockNotHeldError.code, message, options)
  }
}

/**
 * This node has no room for more shard data: its disk is down to the reserve kept for the log and
 * compactions, or its configured capacity is reached. Nothing was staged; other nodes may have room.
 */
export class StorageFullError extends QfsError {
  static readonly code = 'STORAGE_FULL'
  constructor(message: string, options?: ErrorOptions) {
    super(StorageFullError.code, message, options)
  }
}

/** The node's LevelDB cannot be opened or read: its files are damaged or unreadable. */
export class DatabaseUnreadableError extends QfsError {
  static readonly code = 'DB_UNREADABLE'
  constructor(message: string, options?: ErrorOptions) {
    super(DatabaseUnreadableError.code, message, options)
  }
}

/**
 * The innermost LevelDB message of a LEVEL_* failure (the one that says what is wrong), if it is one:
 * abstract-level says only "Database failed to open"; the reason is in its cause.
 */
export function levelFailure(err: unknown): string | undefined {
  let code: string | undefined
  let message = ''
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const c = (e as { code?: unknown }).code
    if (typeof c === 'string' && c.startsWith('LEVEL_')) code = c
    message = e.message
  }
  return code === undefined ? undefined : `${code}: ${message}`
}
