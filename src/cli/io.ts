import { QfsError } from '../core/errors.js'

/** Exit statuses of every command: programs branch on these, people read the message. */
export const EXIT = {
  OK: 0,
  /** The command ran and the answer is "no": a mismatch, a broken log, an unverified proof. */
  CHECK_FAILED: 1,
  /** Bad arguments or input: nothing was done. */
  USAGE: 2,
  /** The command could not complete: I/O, network, a node that did not answer. */
  FAILED: 3,
  /**
   * A client command's node answered that what was asked for is not there: no such version or
   * shard, a deleted object or a delete marker (NOT_FOUND), or an empty shard with no block to prove
   * (EMPTY_SHARD).
   */
  NOT_FOUND: 4,
} as const

export interface CliIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** True when stdout is a terminal (progress bars only then). */
  isTty: boolean
}

export const processIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  isTty: process.stdout.isTTY === true,
}

/** Thrown by a command to stop with a given status after printing its own output. */
export class CliExit extends Error {
  constructor(readonly status: number) {
    super(`exit ${status}`)
  }
}

const USAGE_CODES = new Set([
  'INVALID_INPUT',
  'INVALID_METADATA',
  'INVALID_NUMBER',
  'INVALID_CONFIG',
  'INVALID_ARGUMENT',
  'OVERFLOW',
  'UNDERFLOW',
])

/** One line per failure, `error [CODE]: message`; never a stack trace for an expected error. */
export function reportError(io: CliIo, err: unknown): number {
  if (err instanceof CliExit) return err.status
  if (err instanceof QfsError) {
    io.stderr(`error [${err.code}]: ${err.message}\n`)
    return USAGE_CODES.has(err.code) ? EXIT.USAGE : EXIT.FAILED
  }
  const e = err as NodeJS.ErrnoException
  if (e !== null && typeof e === 'object' && typeof e.code === 'string' && typeof e.message === 'string') {
    // The operating system's errno names (ENOENT, EISDIR, ...) are not our codes: one stable code,
    // with the OS's own words kept in the message.
    const code = /^E[A-Z0-9]+$/.test(e.code) && typeof e.syscall === 'string' ? 'IO_ERROR' : e.code
    io.stderr(`error [${code}]: ${e.message}\n`)
    return EXIT.FAILED
  }
  io.stderr(`error [INTERNAL]: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  return EXIT.FAILED
}

/**
 * JSON text with DEL and the C1 controls escaped too (JSON.stringify escapes C0 only): text a node
 * chose may reach a terminal this way, and U+009B starts an escape sequence on some.
 */
export function jsonText(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

/** A JSON document on stdout (jsonText, indented). */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout(`${jsonText(value, 2)}\n`)
}
