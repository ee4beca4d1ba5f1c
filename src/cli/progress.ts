import type { CliIo } from './io.js'

export interface Progress {
  update(bytes: number): void
  /** Draws the last state and ends the line; later updates are ignored. */
  finish(): void
}

export interface ProgressInit {
  label: string
  total: number
  /** Smaller transfers get no bar (default 4 MiB). */
  minTotal?: number
  /** Least time between two redraws, in ms (default 100). */
  intervalMs?: number
  /** Bar width in characters (default 30). */
  width?: number
  /** A monotonic clock in ms (default performance.now): telemetry for people, never logged. */
  now?: () => number
}

const MIB = 1024 * 1024
const NO_PROGRESS: Progress = { update: () => {}, finish: () => {} }

/**
 * A progress bar on stderr for a large transfer, only when stdout is a terminal (a program reading
 * our output sees none). Redraws are rate-limited so a fast transfer does not spend its time drawing.
 */
export function createProgress(io: CliIo, init: ProgressInit): Progress {
  if (!io.isTty || init.total < (init.minTotal ?? 4 * MIB)) return NO_PROGRESS
  const interval = init.intervalMs ?? 100
  const width = init.width ?? 30
  const now = init.now ?? (() => performance.now())
  let last = Number.NEGATIVE_INFINITY
  let bytes = 0
  let finished = false
  const draw = () => {
    const filled = Math.floor((bytes * width) / init.total)
    const percent = Math.floor((bytes * 100) / init.total)
    io.stderr(
      `\r${init.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(percent).padStart(3)}% ` +
        `${mib(bytes)}/${mib(init.total)} MiB`,
    )
  }
  return {
    update(n) {
      if (finished) return
      bytes = Math.min(Math.max(n, 0), init.total)
      const t = now()
      if (t - last < interval && bytes < init.total) return
      last = t
      draw()
    },
    finish() {
      if (finished) return
      finished = true
      draw()
      io.stderr('\n')
    },
  }
}

function mib(bytes: number): string {
  return (bytes / MIB).toFixed(1)
}
