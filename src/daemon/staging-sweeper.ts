import type { ShardStore } from '../store/index.js'
import type { Logger } from './logger.js'

export interface StagingSweeperInit {
  store: Pick<ShardStore, 'sweepStaging'>
  /** Time between sweeps. */
  intervalMs: number
  /** Staged shards and idle staging streams at least this old are removed. */
  olderThanMs: number
  log: Logger
}

export interface StagingSweeper {
  /** Runs one sweep now (after the one in progress, if any); resolves with how many were removed. */
  sweepNow(): Promise<number>
  /** No sweep starts after this; waits for the one in progress. */
  stop(): Promise<void>
}

/**
 * Removes the staged shards of writes whose coordinator never committed or aborted them (docs/operations.md
 * "Staged data"), on an unref'd timer so it never keeps the process alive. `open()` already clears
 * every leftover at start; this covers a node that runs for weeks. Sweeps never overlap, and a
 * failed sweep is logged and retried at the next tick.
 */
export function startStagingSweeper(init: StagingSweeperInit): StagingSweeper {
  let running: Promise<number> | undefined
  let stopped = false
  const sweep = (): Promise<number> => {
    running ??= (async () => {
      try {
        const { removed } = await init.store.sweepStaging({ olderThanMs: init.olderThanMs })
        if (removed > 0) init.log.info({ removed }, 'staging sweep removed abandoned staged shards')
        return removed
      } catch (err) {
        init.log.warn({ err }, 'staging sweep failed')
        return 0
      } finally {
        running = undefined
      }
    })()
    return running
  }
  const timer = setInterval(() => {
    if (!stopped) void sweep()
  }, init.intervalMs)
  timer.unref()
  return {
    sweepNow: async () => {
      await running
      return sweep()
    },
    stop: async () => {
      stopped = true
      clearInterval(timer)
      await running
    },
  }
}
