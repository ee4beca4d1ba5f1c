import { DEFAULT_PARAMS } from '../core/params.js'

/**
 * Values that command help texts and argument checks name, kept here so that registering the
 * commands loads no daemon module: daemon/config.ts and daemon/devnet.ts load libp2p, LevelDB and
 * ML-DSA, which cost a second before `--help` could print. test/cli/lazy-imports.test.ts checks that
 * each equals the daemon's own.
 */

/** daemon/config.ts LOG_LEVELS. */
export const LOG_LEVEL_NAMES = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** daemon/devnet.ts MIN_DEVNET_NODES (the replication factor: fewer nodes could store nothing). */
export const MIN_DEVNET_NODES = DEFAULT_PARAMS.replicationFactor

/** daemon/devnet-plan.ts MAX_DEVNET_NODES. */
export const MAX_DEVNET_NODES = 64
