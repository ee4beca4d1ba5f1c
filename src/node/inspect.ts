import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { fromHex } from '../core/bytes.js'
import { QfsError } from '../core/errors.js'
import { fileLogHeadRecord, LOG_HEAD_FILE } from '../log/head-record.js'
import { loadAuditPublicKey } from '../log/keys.js'
import { openLogSublevels, readEvents, seqKey, type TextSublevel } from '../log/log-store.js'
import { type LogVerification, MisplacedValue, verifyLog } from '../log/verify.js'
import { SnapshotRejectedError } from '../membership/errors.js'
import { verifySnapshot } from '../membership/snapshot.js'
import { liveNodeState, replayNodeLog, stateHash } from '../replay/index.js'
import type { NodeState } from '../replay/state.js'
import { refuseHeadless } from '../store/db.js'
import { DatabaseUnreadableError, levelFailure } from '../store/errors.js'
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
    throw unreadable(path, err)
  }
  try {
    return await fn(db, nodeId)
  } catch (err) {
    // Damage found while walking (a corrupt table file) is the same verdict as at open.
    throw unreadable(path, err)
  } finally {
    await db.close().catch(() => {})
  }
}

/** A LevelDB failure as DB_UNREADABLE with LevelDB's own reason; any other error as it is. */
function unreadable(path: string, err: unknown): unknown {
  const level = levelFailure(err)
  if (level === undefined) return err
  return new DatabaseUnreadableError(`the database in ${path} cannot be read (${level})`, { cause: err })
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
    // Data files without CURRENT are a damaged database, not a missing one (DB_UNREADABLE, with the way back).
    if (dbDirExists) await refuseHeadless(path)
    const why = dbDirExists
      ? `${path} holds no LevelDB database (no CURRENT file)`
      : `${path} does not exist: the node has never been started`
    throw new NoDatabaseError(`${dir} has no database to inspect: ${why}`, { cause: err })
  }
}

/** Where `log verify` takes the public key it checks checkpoint signatures against. */
export type AuditKeySource =
  /** `D/audit-key.json`, the directory under audit: its public key must belong to its seed. */
  | { kind: 'key-file' }
  /** A key the auditor holds (registered for the node, seen before). */
  | { kind: 'public-key'; publicKey: Uint8Array }
  /** The node's `mldsa_public_key` in a signed epoch snapshot, signed by one of `trustedKeys` (hex). */
  | { kind: 'snapshot'; snapshot: unknown; trustedKeys: readonly string[] }

export type NodeLogVerification = LogVerification & {
  node_id: string
  /** Where the key behind `public_key_hash` came from. */
  key_source: AuditKeySource['kind']
}

/** The epoch snapshot given to check a log against does not list the node. */
export class NodeNotInSnapshotError extends QfsError {
  static readonly code = 'NODE_NOT_IN_SNAPSHOT'
  constructor(message: string, options?: ErrorOptions) {
    super(NodeNotInSnapshotError.code, message, options)
  }
}

/**
 * Walks the whole log: hash links, checkpoint signatures, coverage; names the first bad entry. The
 * key comes from `keySource` (the key file in `dir` by default, which whoever can write `dir` can
 * also replace: an expected key from outside the directory is what makes the verdict independent
 * of it). Every key of the log's sublevels is read, as the node's start reads them. With
 * `expectedHead` (a checkpoint id seen before), or else the head the node recorded in
 * `D/log-head.json`, the log must still hold that checkpoint.
 */
export function verifyNodeDir(
  dir: string,
  keySource: AuditKeySource = { kind: 'key-file' },
  options: { expectedHead?: string } = {},
): Promise<NodeLogVerification> {
  return withNodeDb(dir, async (db, nodeId) => {
    const publicKey = await auditPublicKeyOf(dir, nodeId, keySource)
    // Without a head from the auditor, the one the node recorded itself: what its start checks.
    const expectedHead =
      options.expectedHead ??
      (await fileLogHeadRecord(join(dir, LOG_HEAD_FILE), nodeId).read())?.checkpoint_id
    const { events, ckpts } = openLogSublevels(db)
    const verdict = await verifyLog({
      events: storedValues(events, 'seq'),
      checkpoints: storedValues(ckpts, 'last_seq'),
      publicKey,
      nodeId,
      expectedHead,
    })
    return { node_id: nodeId, key_source: keySource.kind, ...verdict }
  })
}

async function auditPublicKeyOf(dir: string, nodeId: string, source: AuditKeySource): Promise<Uint8Array> {
  switch (source.kind) {
    case 'key-file':
      return loadAuditPublicKey(dir)
    case 'public-key':
      return source.publicKey
    case 'snapshot': {
      const v = verifySnapshot(source.snapshot, source.trustedKeys)
      if (!v.ok) throw new SnapshotRejectedError(v.code, v.detail)
      const entry = v.snapshot.nodes.find((n) => n.node_id === nodeId)
      if (entry === undefined) {
        throw new NodeNotInSnapshotError(
          `the epoch ${v.snapshot.epoch} snapshot does not list node ${nodeId}, so it names no key for its log`,
        )
      }
      return fromHex(entry.mldsa_public_key, 'mldsa_public_key')
    }
  }
}

const SEQ_KEY = /^[0-9]{16}$/

/**
 * Every value of a log sublevel in key order, parsed as JSON (null when it does not parse; verifyLog
 * names it), or a `MisplacedValue` when its key is not the seq key of what it holds (`seq` of an
 * entry, `last_seq` of a checkpoint): the node reads entries by key, so a value filed elsewhere is
 * as good as missing.
 */
async function* storedValues(sublevel: TextSublevel, seqField: 'seq' | 'last_seq'): AsyncGenerator<unknown> {
  for await (const [key, value] of sublevel.iterator()) {
    let parsed: unknown = null
    try {
      parsed = JSON.parse(value)
    } catch {
      // Not JSON: a bad value at this position.
    }
    if (!SEQ_KEY.test(key)) {
      yield new MisplacedValue(key, `stored key ${keyText(key)} is not a seq key`)
      continue
    }
    const seq =
      parsed !== null && typeof parsed === 'object'
        ? (parsed as Record<string, unknown>)[seqField]
        : undefined
    if (typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0 && seqKey(seq) !== key) {
      yield new MisplacedValue(key, `stored key ${key} holds ${seqField} ${seq}`)
      continue
    }
    yield parsed
  }
}

/** A stored key as quoted text, bounded and with no control character left raw (it may reach a terminal). */
function keyText(key: string): string {
  const short = key.length > 64 ? `${key.slice(0, 64)}...` : key
  return JSON.stringify(short).replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
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
