import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { DEFAULT_PARAMS, type ProtocolParams } from '../core/params.js'
import { NodeService } from '../engine/node-service.js'
import { type AuditKey, EventLog, type EventLogOptions, loadOrCreateAuditKey } from '../log/index.js'
import { openNodeDb, type RootDb, ShardStore, type SpaceGuard } from '../store/index.js'
import { ensureNodeId } from './identity.js'

export interface LocalNodeInit {
  nodeId: string
  /** Data directory: LevelDB in `dir/db`, the audit key in `dir/audit-key.json`. */
  dir?: string
  /** An already open root db (memory-level in tests) instead of `dir`. */
  db?: RootDb
  /** Required with `db`; read from or created in `dir` otherwise. */
  auditKey?: AuditKey
  params?: ProtocolParams
  log?: EventLogOptions
  /** Room for shard data (the daemon's disk and quota); none: the store never refuses for space. */
  space?: SpaceGuard
}

/** One node's local parts, opened together so they always share one atomic LevelDB. */
export interface LocalNode {
  readonly nodeId: string
  readonly db: RootDb
  readonly store: ShardStore
  readonly log: EventLog
  readonly service: NodeService
  readonly auditKey: AuditKey
  readonly params: ProtocolParams
  close(): Promise<void>
}

export async function openLocalNode(init: LocalNodeInit): Promise<LocalNode> {
  const params = init.params ?? DEFAULT_PARAMS
  let db = init.db
  let auditKey = init.auditKey
  if (db === undefined) {
    if (init.dir === undefined) throw new TypeError('openLocalNode needs dir or db')
    await mkdir(init.dir, { recursive: true, mode: 0o700 })
    await ensureNodeId(init.dir, init.nodeId)
    db = (await openNodeDb(join(init.dir, 'db'))) as unknown as RootDb
  }
  if (auditKey === undefined) {
    if (init.dir === undefined) throw new TypeError('openLocalNode needs auditKey with db')
    auditKey = await loadOrCreateAuditKey(init.dir)
  }
  const store = new ShardStore({ db, space: init.space }, { params })
  await store.open()
  const log = new EventLog({ db, nodeId: init.nodeId, key: auditKey }, init.log)
  await log.open()
  const service = new NodeService({ nodeId: init.nodeId, store, log, params })
  const root = db
  return {
    nodeId: init.nodeId,
    db: root,
    store,
    log,
    service,
    auditKey,
    params,
    async close() {
      await log.close()
      await store.close()
      await root.close()
    },
  }
}
