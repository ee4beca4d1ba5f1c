import { MemoryLevel } from 'memory-level'
import { utf8 } from '../../src/core/bytes.js'
import { sha3 } from '../../src/core/hash.js'
import type { StorageEngineApi } from '../../src/engine/api.js'
import { type AuditKey, generateAuditKey } from '../../src/log/index.js'
import { MiniNetwork } from '../../src/node/mini-network.js'
import type { RootDb, SpaceGuard } from '../../src/store/index.js'

/** What the shared engine suite needs from a network, whatever carries its messages. */
export interface EngineHarness {
  nodeIds: string[]
  engine(nodeId: string): StorageEngineApi
  setDown(nodeId: string, down: boolean): Promise<void>
  /** Alters the blocks a node serves (its own reads and its peers'), or with undefined stops. */
  tamper?: (
    fn: ((nodeId: string, shardId: string, index: number, block: Uint8Array) => Uint8Array) | undefined,
  ) => void
  logEntries(nodeId: string): number
  close(): Promise<void>
}

const keys = new Map<string, AuditKey>()
/** Deterministic test keys; ML-DSA keygen is cheap but not free. */
export function testAuditKey(nodeId: string): AuditKey {
  let k = keys.get(nodeId)
  if (k === undefined) {
    k = generateAuditKey(sha3(utf8(`test-key:${nodeId}`)))
    keys.set(nodeId, k)
  }
  return k
}

export interface HarnessOptions {
  /** Each node's room for shard data. */
  space?: (nodeId: string) => SpaceGuard
  /** The engines' request deadline (default 5 s). */
  requestMs?: number
}

export async function inProcessHarness(
  count = 5,
  options: HarnessOptions = {},
): Promise<EngineHarness & { net: MiniNetwork }> {
  const nodeIds = Array.from({ length: count }, (_, i) => `node-${i + 1}`)
  const net = await MiniNetwork.create({
    nodeIds,
    openDb: async () => {
      const db = new MemoryLevel({ keyEncoding: 'view', valueEncoding: 'view' })
      await db.open()
      return db as unknown as RootDb
    },
    auditKey: testAuditKey,
    engine: { timeouts: { requestMs: options.requestMs ?? 5_000, streamIdleMs: 5_000 } },
    space: options.space,
  })
  return {
    net,
    nodeIds,
    engine: (id) => net.engine(id),
    setDown: async (id, down) => net.transport.setDown(id, down),
    tamper: (fn) => {
      net.transport.tamper = fn
    },
    logEntries: (id) => net.node(id).log.head().entries,
    close: () => net.close(),
  }
}
