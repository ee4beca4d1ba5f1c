import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { DEFAULT_PARAMS, type ProtocolParams } from '../core/params.js'
import type { AcceptanceKeys } from '../engine/acceptance.js'
import { DecidedRecords } from '../engine/decided-records.js'
import { NodeService } from '../engine/node-service.js'
import {
  type AuditKey,
  EventLog,
  type EventLogOptions,
  fileLogHeadRecord,
  LOG_HEAD_FILE,
  loadOrCreateAuditKey,
} from '../log/index.js'
import type { Membership } from '../membership/types.js'
import { openNodeDb, type RootDb, ShardStore, type SpaceGuard } from '../store/index.js'
import { ensureNodeId } from './identity.js'

export interface LocalNodeInit {
  nodeId: string
  /**
   * Data directory: LevelDB in `dir/db`, the audit key in `dir/audit-key.json`, the log's last signed
   * checkpoint in `dir/log-head.json`.
   */
  dir?: string
  /** An already open root db (memory-level in tests) instead of `dir`. */
  db?: RootDb
  /** Required with `db`; read from or created in `dir` otherwise. */
  auditKey?: AuditKey
  params?: ProtocolParams
  log?: EventLogOptions
  /** Room for shard data (the daemon's disk and quota); none: the store never refuses for space. */
  space?: SpaceGuard
  /** The epochs committed records must be placed in (NodeService); none: a store used on its own. */
  membership?: Membership
  /** How the node signs and checks acceptances (NodeService); required with `membership`. */
  acceptanceKeys?: AcceptanceKeys
}

/** One node's local parts, opened together so they always share one atomic LevelDB. */
export interface LocalNode {
  readonly nodeId: string
  readonly db: RootDb
  readonly store: ShardStore
  readonly log: EventLog
  readonly service: NodeService
  /** Records every home is known to hold: filled by the service's commits, shared with the node's engine. */
  readonly decided: DecidedRecords
  readonly auditKey: AuditKey
  readonly params: ProtocolParams
  close(): Promise<void>
}

export async function openLocalNode(init: LocalNodeInit): Promise<LocalNode> {
  const params = init.params ?? DEFAULT_PARAMS
  if (init.db !== undefined) return openParts(init, init.db, params)
  if (init.dir === undefined) throw new TypeError('openLocalNode needs dir or db')
  await mkdir(init.dir, { recursive: true, mode: 0o700 })
  await ensureNodeId(init.dir, init.nodeId)
  const db = (await openNodeDb(join(init.dir, 'db'))) as unknown as RootDb
  try {
    return await openParts(init, db, params)
  } catch (err) {
    // The database was opened here, so it is closed here: LevelDB locks its directory until then,
    // and a retry or an offline check in this process would meet DATA_DIR_IN_USE instead of `err`.
    await db.close().catch(() => {})
    throw err
  }
}

/** Opens the store and the log over `db`; on failure, what was opened here is closed again (not `db`). */
async function openParts(init: LocalNodeInit, db: RootDb, params: ProtocolParams): Promise<LocalNode> {
  let auditKey = init.auditKey
  if (auditKey === undefined) {
    if (init.dir === undefined) throw new TypeError('openLocalNode needs auditKey with db')
    auditKey = await loadOrCreateAuditKey(init.dir)
  }
  const store = new ShardStore({ db, space: init.space }, { params })
  let log: EventLog | undefined
  try {
    await store.open()
    // A node's own directory records its log head beside the database; a db passed in has no place for it.
    const headRecord =
      init.dir !== undefined && init.db === undefined
        ? fileLogHeadRecord(join(init.dir, LOG_HEAD_FILE), init.nodeId, { removeStale: true })
        : undefined
    log = new EventLog({ db, nodeId: init.nodeId, key: auditKey, headRecord }, init.log)
    await log.open()
  } catch (err) {
    await log?.close().catch(() => {})
    await store.close()
    throw err
  }
  const opened = log
  const decided = new DecidedRecords()
  const service = new NodeService({
    nodeId: init.nodeId,
    store,
    log: opened,
    params,
    membership: init.membership,
    acceptanceKeys: init.acceptanceKeys,
    decided,
  })
  return {
    nodeId: init.nodeId,
    db,
    store,
    log: opened,
    service,
    decided,
    auditKey,
    params,
    async close() {
      await opened.close()
      await store.close()
      await db.close()
    },
  }
}
