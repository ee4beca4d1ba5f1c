import { join } from 'node:path'
import { DEFAULT_PARAMS, type ProtocolParams } from '../core/params.js'
import { DeterministicTime } from '../core/time.js'
import { StorageEngine, type StorageEngineInit } from '../engine/engine.js'
import { InProcessTransport } from '../engine/in-process.js'
import type { AuditKey } from '../log/index.js'
import { StaticMembership } from '../membership/static.js'
import type { RootDb, SpaceGuard } from '../store/index.js'
import { InProcessKeyring } from './keyring.js'
import { type LocalNode, openLocalNode } from './local-node.js'

export interface MiniNetworkInit {
  nodeIds: readonly string[]
  /** Each node gets `dir/<node id>`; without it, `openDb` must supply databases. */
  dir?: string
  openDb?: (nodeId: string) => Promise<RootDb>
  auditKey?: (nodeId: string) => AuditKey
  params?: ProtocolParams
  engine?: StorageEngineInit
  /** Each node's room for shard data; without it no node refuses for space. */
  space?: (nodeId: string) => SpaceGuard
}

/**
 * Phase 1 of the spec in one process: several nodes with their own store and log, one eligible
 * list, and a StorageEngine on every node, all joined by the in-process transport.
 */
export class MiniNetwork {
  readonly transport = new InProcessTransport()
  readonly membership: StaticMembership
  readonly nodes = new Map<string, LocalNode>()
  private readonly engines = new Map<string, StorageEngine>()

  private constructor(membership: StaticMembership) {
    this.membership = membership
  }

  static async create(init: MiniNetworkInit): Promise<MiniNetwork> {
    const params = init.params ?? DEFAULT_PARAMS
    const net = new MiniNetwork(new StaticMembership({ nodes: init.nodeIds, params }))
    const keyring = new InProcessKeyring()
    for (const nodeId of init.nodeIds) {
      const node = await openLocalNode({
        nodeId,
        dir: init.dir === undefined ? undefined : join(init.dir, nodeId),
        db: init.openDb === undefined ? undefined : await init.openDb(nodeId),
        auditKey: init.auditKey?.(nodeId),
        params,
        space: init.space?.(nodeId),
        membership: net.membership,
        acceptanceKeys: keyring.keysOf(nodeId),
      })
      net.nodes.set(nodeId, node)
      net.transport.add(node.service)
      net.engines.set(
        nodeId,
        new StorageEngine(
          {
            nodeId,
            transport: net.transport,
            membership: net.membership,
            log: node.log,
            time: new DeterministicTime(),
            // The engine's own records when the caller sizes them (decidedRecordsKept), else the node's.
            decided: init.engine?.decidedRecordsKept === undefined ? node.decided : undefined,
          },
          init.engine,
        ),
      )
    }
    return net
  }

  /** The engine coordinating on `nodeId` (any node can). */
  engine(nodeId: string): StorageEngine {
    const e = this.engines.get(nodeId)
    if (e === undefined) throw new RangeError(`no node ${nodeId}`)
    return e
  }

  node(nodeId: string): LocalNode {
    const n = this.nodes.get(nodeId)
    if (n === undefined) throw new RangeError(`no node ${nodeId}`)
    return n
  }

  async close(): Promise<void> {
    for (const n of this.nodes.values()) await n.close()
  }
}
