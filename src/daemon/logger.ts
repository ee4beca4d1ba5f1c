import { type DestinationStream, type Logger, pino } from 'pino'
import type { LogLevel } from './config.js'

/**
 * The daemon's structured log: one JSON object per line, `msg` plus fields, ISO timestamps. These are
 * operator logs (wall clock allowed); the audit trail is the EQM log, which never reads a clock.
 * `write` sends each line somewhere other than stdout (the CLI routes it through its own stdout so
 * the ready line and log lines never interleave mid-line).
 */
export function createLogger(level: LogLevel, write?: (line: string) => void): Logger {
  const destination: DestinationStream | undefined = write === undefined ? undefined : { write }
  const options = {
    level,
    base: { name: 'qfs-node' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  }
  return destination === undefined ? pino(options) : pino(options, destination)
}

export type { Logger }
