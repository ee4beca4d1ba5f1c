import type { RollForwardResult } from '../engine/roll-forward.js'
import type { ShardStore, StagedShardRef } from '../store/index.js'
import type { Logger } from './logger.js'

/**
 * How long a staged shard whose fate cannot be learnt (too few catalogue homes answer) is kept for
 * another try. Past it the shard goes: a version whose homes stay unreachable for a day is
 * unreadable anyway, and the bytes must not pile up.
 */
export const UNDECIDED_STAGING_MAX_AGE_MS = 24 * 60 * 60 * 1000

export interface StagingSweeperInit {
  store: Pick<ShardStore, 'sweepStaging' | 'staleStaged'>
  /** Commits what a decided record still needs (the engine's roll-forward); without it stale shards just go. */
  rollForward?: (refs: readonly StagedShardRef[]) => Promise<RollForwardResult>
  /** Time between sweeps. */
  intervalMs: number
  /** Staged shards and idle staging streams at least this old are resolved or removed. */
  olderThanMs: number
  log: Logger
  /** Local wall clock (ms) for the undecided age; the store's markers use the same. Default Date.now. */
  now?: () => number
}

export interface StagingSweeper {
  /** Runs one sweep now (after the one in progress, if any); resolves with how many were removed (0 once stopped). */
  sweepNow(): Promise<number>
  /** No sweep starts after this; waits for the one in progress. */
  stop(): Promise<void>
}

/**
 * Resolves the staged shards of writes whose coordinator never committed or aborted them
 * (docs/operations.md "Staged data"), on an unref'd timer so it never keeps the process alive: a
 * shard a decided version still needs is committed (roll forward), one no version needs is removed,
 * and one whose fate cannot be learnt yet is kept for the next sweep, up to
 * UNDECIDED_STAGING_MAX_AGE_MS. Sweeps never overlap, and a failed sweep is logged and retried at
 * the next tick.
 */
export function startStagingSweeper(init: StagingSweeperInit): StagingSweeper {
  let running: Promise<number> | undefined
  let stopped = false
  const sweep = (): Promise<number> => {
    running ??= (async () => {
      try {
        let removeStaged: Set<string> | undefined
        if (init.rollForward !== undefined) {
          const stale = await init.store.staleStaged(init.olderThanMs)
          removeStaged = new Set()
          if (stale.length > 0) {
            // Without an answer (no snapshot in force, say) every stale shard's fate is unknown.
            const r = await Promise.resolve()
              .then(() => init.rollForward!(stale))
              .catch((err: unknown): RollForwardResult => {
                init.log.warn({ err }, 'staging roll-forward failed')
                return { committed: [], unneeded: [], undecided: stale.map((s) => s.stagingId) }
              })
            const now = (init.now ?? Date.now)()
            const expired = new Set(
              stale.filter((s) => now - s.createdMs >= UNDECIDED_STAGING_MAX_AGE_MS).map((s) => s.stagingId),
            )
            for (const id of r.unneeded) removeStaged.add(id)
            for (const id of r.undecided) if (expired.has(id)) removeStaged.add(id)
            if (r.committed.length > 0) {
              // Which writes were rolled forward: an operator may want to tell their clients.
              const committed = new Set(r.committed)
              const versions = [
                ...new Set(
                  stale.filter((s) => committed.has(s.stagingId)).map((s) => `${s.objectId} v${s.version}`),
                ),
              ]
              init.log.warn(
                { committed: r.committed.length, versions: versions.slice(0, 20) },
                'staging sweep committed staged shards a decided version needed (its coordinator stopped before committing)',
              )
            }
            const kept = r.undecided.length - r.undecided.filter((id) => expired.has(id)).length
            if (kept > 0) {
              init.log.info({ kept }, 'staging sweep kept staged shards whose version is not decided yet')
            }
          }
        }
        const { removed } = await init.store.sweepStaging({ olderThanMs: init.olderThanMs, removeStaged })
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
      // Asked for before a stop that came while it waited: no sweep starts after stop().
      if (stopped) return 0
      return sweep()
    },
    stop: async () => {
      stopped = true
      clearInterval(timer)
      await running
    },
  }
}
