import { QfsError } from '../core/errors.js'

/** Where a configuration value came from; every config error names it. */
export type ConfigSource = 'default' | 'file' | 'env' | 'flag'

/** A configuration value of the wrong type, out of range, or unknown; names the field and its source. */
export class InvalidConfigError extends QfsError {
  static readonly code = 'INVALID_CONFIG'
  readonly field: string
  readonly source: ConfigSource

  constructor(field: string, source: ConfigSource, problem: string, where?: string, options?: ErrorOptions) {
    super(InvalidConfigError.code, `${field} (${where ?? source}): ${problem}`, options)
    this.field = field
    this.source = source
  }
}

/** A data directory whose files contradict each other (node.json names another peer key) or do not parse. */
export class InvalidDataDirError extends QfsError {
  static readonly code = 'INVALID_DATA_DIR'
  constructor(message: string, options?: ErrorOptions) {
    super(InvalidDataDirError.code, message, options)
  }
}

/** Another process holds the node's database (a daemon already runs on this directory). */
export class AlreadyRunningError extends QfsError {
  static readonly code = 'ALREADY_RUNNING'
  constructor(message: string, options?: ErrorOptions) {
    super(AlreadyRunningError.code, message, options)
  }
}

export { DatabaseUnreadableError } from '../store/errors.js'

/** The node could not start listening (address in use, unsupported transport). */
export class StartFailedError extends QfsError {
  static readonly code = 'START_FAILED'
  constructor(message: string, options?: ErrorOptions) {
    super(StartFailedError.code, message, options)
  }
}

/** A new snapshot changes the protocol parameters the store was opened with: that takes a restart. */
export class ParamsChangedError extends QfsError {
  static readonly code = 'PARAMS_CHANGED'
  constructor(message: string, options?: ErrorOptions) {
    super(ParamsChangedError.code, message, options)
  }
}

/** A new snapshot changes who is eligible: that needs the AEGIS handover of records and shards. */
export class MembershipChangeUnsupportedError extends QfsError {
  static readonly code = 'MEMBERSHIP_CHANGE_UNSUPPORTED'
  constructor(message: string, options?: ErrorOptions) {
    super(MembershipChangeUnsupportedError.code, message, options)
  }
}

/** No daemon has announced itself in the data directory (no run.json). */
export class NotRunningError extends QfsError {
  static readonly code = 'NOT_RUNNING'
  constructor(message: string, options?: ErrorOptions) {
    super(NotRunningError.code, message, options)
  }
}
