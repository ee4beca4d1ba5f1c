import { getSystemErrorMessage } from 'node:util'
import { QfsError } from '../core/errors.js'

/**
 * The command line's own errors (docs/operations.md "Command-line errors"). This module imports
 * nothing heavy: commands check their arguments with it before they load a network stack.
 */

/** A command-line value that cannot be used: nothing was sent anywhere (exit 2). */
export class InvalidArgumentError extends QfsError {
  static readonly code = 'INVALID_ARGUMENT'
  constructor(message: string, options?: ErrorOptions) {
    super(InvalidArgumentError.code, message, options)
  }
}

/** The operating system refused a local file or directory (exit 3); its errno code and words are in the message. */
export class LocalFileError extends QfsError {
  static readonly code = 'IO_ERROR'
  constructor(message: string, options?: ErrorOptions) {
    super(LocalFileError.code, message, options)
  }
}

/** A file that changed size while a command read it: what was read is neither the old file nor the new (exit 3). */
export class FileChangedError extends QfsError {
  static readonly code = 'FILE_CHANGED'
  constructor(message: string, options?: ErrorOptions) {
    super(FileChangedError.code, message, options)
  }
}

/** An errno error as `CODE (the system's words)`, e.g. `EACCES (permission denied)`; else its message. */
export function errnoReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  if (e !== null && typeof e === 'object' && typeof e.code === 'string' && typeof e.errno === 'number') {
    return `${e.code} (${getSystemErrorMessage(e.errno)})`
  }
  if (e !== null && typeof e === 'object' && typeof e.code === 'string') return e.code
  return err instanceof Error ? err.message : String(err)
}

/** Errno codes that say a path names nothing, or a directory where a file is wanted: the argument is wrong, not the file system. */
const WRONG_PATH = new Set(['ENOENT', 'ENOTDIR', 'EISDIR'])

/**
 * Why a file named on the command line could not be read, in our words: a path that names nothing,
 * or names a directory, is the argument's fault (INVALID_ARGUMENT, exit 2); any other refusal
 * (EACCES, EIO, ...) is the operating system's (IO_ERROR, exit 3). Anything but an errno error is passed on unchanged.
 */
export function unreadableFile(what: string, err: unknown): unknown {
  const e = err as NodeJS.ErrnoException
  if (e === null || typeof e !== 'object' || typeof e.code !== 'string' || typeof e.errno !== 'number') {
    return err
  }
  const message = `cannot read ${what}: ${errnoReason(e)}`
  return WRONG_PATH.has(e.code)
    ? new InvalidArgumentError(message, { cause: err })
    : new LocalFileError(message, { cause: err })
}

export { oneLine } from '../core/errors.js'
