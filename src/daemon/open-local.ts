import type { ProtocolParams } from '../core/params.js'
import type { AcceptanceKeys } from '../engine/acceptance.js'
import type { EventLogOptions } from '../log/index.js'
import type { Membership } from '../membership/types.js'
import { type LocalNode, openLocalNode } from '../node/local-node.js'
import { levelFailure } from '../store/errors.js'
import type { SpaceGuard } from '../store/index.js'
import { dataPaths } from './data-dir.js'
import { AlreadyRunningError, DatabaseUnreadableError } from './errors.js'
import type { Logger } from './logger.js'

/**
 * The data directory's store and log for a starting daemon, with the failures an operator meets
 * named for what to do: another node holding the database, the system refusing a file, damage.
 */
export async function openLocal(
  nodeId: string,
  dir: string,
  params: ProtocolParams,
  space: SpaceGuard,
  logOptions: EventLogOptions,
  membership: Membership,
  acceptanceKeys: AcceptanceKeys,
): Promise<LocalNode> {
  try {
    return await openLocalNode({ nodeId, dir, params, space, log: logOptions, membership, acceptanceKeys })
  } catch (err) {
    const cause = (err as { cause?: { code?: unknown } }).cause
    if (cause?.code === 'LEVEL_LOCKED') {
      throw new AlreadyRunningError(`the database in ${dir} is in use: is a node already running there?`, {
        cause: err,
      })
    }
    const level = levelFailure(err)
    if (level !== undefined) {
      // The system refusing a file (its size limit, a full disk, permissions) is no damage: the
      // advice for damage, starting over on an empty directory, would throw a healthy store away.
      const advice = SYSTEM_REFUSAL.test(level)
        ? 'the system refused a file, which is no damage to the data: lift the limit (ulimit -f, free space, permissions, open files) and start again'
        : "restore the data directory from a backup, or start this node on an empty one and let its peers' replicas serve its objects"
      throw new DatabaseUnreadableError(
        `the database in ${dataPaths(dir).db} cannot be read (${level}): ${advice}`,
        {
          cause: err,
        },
      )
    }
    throw err
  }
}

/**
 * The log's write health in the node's log: the database refusing appends (a full disk, a file size
 * limit, LevelDB's sticky background error) fails every request this node serves, so it is an error
 * line once, when it starts, and an info line when appends are written again.
 */
export function logWriteHealth(log: Logger): EventLogOptions['onWriteHealth'] {
  return (failure) => {
    if (failure !== undefined) {
      log.error(
        { reason: failure.reason, seq: failure.seq },
        'the audit log cannot be written: this node fails every request and reports not ready until it can (free space or lift the limit; LevelDB may need a restart to write again)',
      )
    } else log.info('the audit log is written again: this node serves again')
  }
}

/** LevelDB's words (the OS's strerror) for a file the system refused, as opposed to a damaged one. */
const SYSTEM_REFUSAL =
  /File too large|No space left on device|Disk quota exceeded|Permission denied|Read-only file system|Too many open files/i
