import { QfsError } from '../core/errors.js'

/** A /v1 request without the configured bearer token. */
export class UnauthorizedError extends QfsError {
  static readonly code = 'UNAUTHORIZED'
  constructor(message: string, options?: ErrorOptions) {
    super(UnauthorizedError.code, message, options)
  }
}

// Codes that mean "not now" rather than "never": the client may retry later.
const UNAVAILABLE = new Set([
  'NO_SNAPSHOT',
  'AEGIS_CONTEXT_MISSING',
  'QUORUM_NOT_REACHED',
  'NODE_UNAVAILABLE',
  'INSUFFICIENT_NODES',
  'STORAGE_FULL',
  'SHARD_UNAVAILABLE',
  'NODE_BUSY',
])

/** The one table from error codes to HTTP statuses; programs switch on `code`, never on messages. */
export function httpStatusOf(code: string): number {
  if (code === UnauthorizedError.code) return 401
  if (code === 'NOT_FOUND') return 404
  if (code.startsWith('INVALID_') || code === 'OVERFLOW' || code === 'UNDERFLOW') return 400
  if (UNAVAILABLE.has(code)) return 503
  return 500
}
