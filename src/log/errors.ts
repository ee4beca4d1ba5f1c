import { QfsError } from '../core/errors.js'

/** Stored log data that does not parse or contradicts itself (a broken entry, a checkpoint past the head). */
export class LogCorruptError extends QfsError {
  static readonly code = 'LOG_CORRUPT'
  constructor(message: string, options?: ErrorOptions) {
    super(LogCorruptError.code, message, options)
  }
}

/** The stored log belongs to another node id or was signed with another audit key than the one given. */
export class LogIdentityMismatchError extends QfsError {
  static readonly code = 'LOG_IDENTITY_MISMATCH'
  constructor(message: string, options?: ErrorOptions) {
    super(LogIdentityMismatchError.code, message, options)
  }
}

/** The log is not open: `open()` was not called yet, or `close()` already was. */
export class LogNotOpenError extends QfsError {
  static readonly code = 'LOG_NOT_OPEN'
  constructor(message: string, options?: ErrorOptions) {
    super(LogNotOpenError.code, message, options)
  }
}

/** The database refused an append's batch; nothing of that append was written and the head did not move. */
export class LogWriteError extends QfsError {
  static readonly code = 'LOG_WRITE_FAILED'
  constructor(message: string, options?: ErrorOptions) {
    super(LogWriteError.code, message, options)
  }
}

/** An audit key file that does not parse, names another scheme, or whose public key does not match its seed. */
export class InvalidKeyFileError extends QfsError {
  static readonly code = 'INVALID_KEY_FILE'
  constructor(message: string, options?: ErrorOptions) {
    super(InvalidKeyFileError.code, message, options)
  }
}

/** A secret key file readable or writable by group or others; refused as OpenSSH refuses such keys. */
export class InsecureKeyFileError extends QfsError {
  static readonly code = 'INSECURE_KEY_FILE'
  constructor(message: string, options?: ErrorOptions) {
    super(InsecureKeyFileError.code, message, options)
  }
}

/** The log holds less than the head its node recorded signing (`D/log-head.json`): its tail was lost. */
export class LogRolledBackError extends QfsError {
  static readonly code = 'LOG_ROLLED_BACK'
  constructor(message: string, options?: ErrorOptions) {
    super(LogRolledBackError.code, message, options)
  }
}

/** The recorded log head cannot be read or parsed, so the start cannot tell whether the log lost its tail. */
export class LogHeadUnreadableError extends QfsError {
  static readonly code = 'LOG_HEAD_UNREADABLE'
  constructor(message: string, options?: ErrorOptions) {
    super(LogHeadUnreadableError.code, message, options)
  }
}
