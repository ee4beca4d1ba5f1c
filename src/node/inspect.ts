import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { QfsError } from '../core/errors.js'
import { type LogVerification, loadAuditPublicKey, verifyLog } from '../log/index.js'
import { openLogSublevels, rawValues, readEvents } from '../log/log-store.js'
import { liveNodeState, replayNodeLog, stateHash } from '../replay/index.js'
import type { NodeState } from '../replay/state.js'
import { openNodeDb, type RootDb, type ScrubReport, scrubStore, storeSublevels } from '../store/index.js'
import { readNodeId } from './identity.js'

/** The data directory's database is held by a running node (LevelDB allows one opener). */
export class DataDirInUseError extends QfsError {
  static readonly code = 'DATA_DIR_IN_USE'
  constructor(message: string, options?: ErrorOptions) {
    super(DataDirInUseError.code, message, options)
  }
}

/** The data directory holds no database: the node never started, so there is nothing to inspect. */
export class NoDatabaseError extends QfsError {
  static readonly code = 'NO_DATABASE'
  constructor(message: string, options?: ErrorOptions) {
    super(NoDatabaseError.code, message, options)
  }
}

/**
 * Offline inspection of a stopped node's data directory. Nothing here writes: a tampered or crashed
 * directory is examined as it is, not repaired first.
 */
async function withNodeDb<T>(dir: string, fn: (db: RootDb, nodeId: string) => Promise<T>): Promise<T> {
  const nodeId = await readNodeId(dir)
  const path = join(dir, 'db')
  await requireDatabase(dir, path)
  let db: RootDb
  try {
    db = (await openNodeDb(path)) as unknown as RootDb
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause
    if (cause?.code === 'LEVEL_LOCKED') {
      throw new DataDirInUseError(`${dir} is in use by a running node; stop it first`, { cause: err })
    }
    throw err
  }
  try {
    return await fn(db, nodeId)
  } finally {
    await db.close()
  }
}

/**
 * LevelDB creates a database it does not find, so opening is left to directories that hold one
 * (its CURRENT file names the live manifest): an offline check must not create `D/db`.
 */
async function requireDatabase(dir: string, path: string): Promise<void> {
  try {
    await stat(join(path, 'CURRENT'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    const dbDirExists = await stat(path).then(
      () => true,
      () => false,
    )
    const why = dbDirExists
      ? `${path} holds no LevelDB database (no CURRENT file)`
      : `${path} does not exist: the node has never been started`
    throw new NoDatabaseError(`${dir} has no database to inspect: ${why}`, { cause: err })
  }
}

const END = Number.MAX_SAFE_INTEGER

/** Walks the whole log: hash links, checkpoint signatures, coverage; names the first bad entry. */
export function verifyNodeDir(dir: string): Promise<LogVerification & { node_id: string }> {
  return withNodeDb(dir, async (db, nodeId) => {
    const { events, ckpts } = openLogSublevels(db)
    const verdict = await verifyLog({
      events: rawValues(events, END),
      checkpoints: rawValues(ckpts, END),
      publicKey: await loadAuditPublicKey(dir),
      nodeId,
    })
    return { node_id: nodeId, ...verdict }
  })
}

export interface ReplayReport {
  node_id: string
  live_state_hash: string
  replayed_state_hash: string
  equal: boolean
  live: NodeState['metrics']
  replayed: NodeState['metrics']
}

/** Rebuilds the node's state from its log and compares it with what its store holds. */
export function replayNodeDir(dir: string): Promise<ReplayReport> {
  return withNodeDb(dir, async (db, nodeId) => {
    const live = await liveNodeState(nodeId, storeSublevels(db))
    const replayed = await replayNodeLog(nodeId, readEvents(openLogSublevels(db).events))
    const [a, b] = [stateHash(live), stateHash(replayed)]
    return {
      node_id: nodeId,
      live_state_hash: a,
      replayed_state_hash: b,
      equal: a === b,
      live: live.metrics,
      replayed: replayed.metrics,
    }
  })
}

export function scrubNodeDir(
  dir: string,
  onProgress?: (p: { shardsChecked: number; blocksChecked: number }) => void,
): Promise<ScrubReport & { node_id: string }> {
  return withNodeDb(dir, async (db, nodeId) => ({
    node_id: nodeId,
    ...(await scrubStore(storeSublevels(db), { onProgress })),
  }))
}
