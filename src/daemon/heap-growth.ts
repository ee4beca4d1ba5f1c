import { setFlagsFromString } from 'node:v8'

/** What `qfs-node start` sets unless the command line already chose (see DAEMON_NODE_ARGS). */
export const DAEMON_HEAP_GROWING_PERCENT = 100

/**
 * Lets V8 double the old-generation limit after a full collection instead of growing a small heap
 * by 1.3x, which ran a mark-compact about every 100 ms of a transfer (a third of a node's CPU). Set
 * at run time because Node refuses the flag in NODE_OPTIONS, so an operator's `qfs-node start`
 * would otherwise never get it; V8 reads it each time it sets a new limit. An explicit
 * `--heap-growing-percent` on the node command line wins. Returns whether it set the flag.
 */
export function applyDaemonHeapGrowth(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((arg) => arg.startsWith('--heap-growing-percent'))) return false
  setFlagsFromString(`--heap-growing-percent=${DAEMON_HEAP_GROWING_PERCENT}`)
  return true
}
