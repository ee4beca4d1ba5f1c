import { MemoryLevel } from 'memory-level'
import { describe, expect, it } from 'vitest'
import { EventLog } from '../../src/log/event-log.js'
import { MiniNetwork } from '../../src/node/mini-network.js'
import type { RootDb } from '../../src/store/index.js'
import { testAuditKey } from '../engine/harness.js'
import { NODE, storeFields, TEST_KEY } from './fixtures.js'

/** One batch as the database was asked to write it: the event types of its log entries, and `sync`. */
interface SeenBatch {
  events: string[]
  sync: boolean
}

/**
 * A memory database that records every batch carrying log entries. LevelDB (classic-level) leaves a
 * batch in the page cache unless it is given `sync: true`, so the options are what reaches the disk.
 */
async function watchedDb(seen: SeenBatch[]): Promise<RootDb> {
  const db = new MemoryLevel({ keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  const batch = db.batch.bind(db) as (...args: unknown[]) => Promise<void>
  ;(db as unknown as { batch: (...args: unknown[]) => unknown }).batch = (...args: unknown[]) => {
    if (Array.isArray(args[0])) {
      const events: string[] = []
      for (const op of args[0] as Array<{ value?: unknown }>) {
        const m = typeof op.value === 'string' ? /"event_type":"([A-Z_]+)"/.exec(op.value) : null
        if (m !== null) events.push(m[1]!)
      }
      if (events.length > 0) seen.push({ events, sync: (args[1] as { sync?: boolean })?.sync === true })
    }
    return batch(...args)
  }
  return db as unknown as RootDb
}

const QUIET = { checkpointDelayMs: 3_600_000 }

describe('durable appends', () => {
  it('sync exactly the batches holding a durable append, alone or grouped', async () => {
    const seen: SeenBatch[] = []
    const log = new EventLog({ db: await watchedDb(seen), nodeId: NODE, key: TEST_KEY }, QUIET)
    await log.open()
    await log.append(storeFields(0))
    await log.append(storeFields(1), [], { durable: true })
    // Queued together, they share one batch, synced for the durable one.
    await Promise.all([
      log.append({ ...storeFields(2), event_type: 'READ' }),
      log.append({ ...storeFields(3), event_type: 'READ' }),
      log.append(storeFields(4), [], { durable: true }),
      log.append({ ...storeFields(5), event_type: 'READ' }),
    ])
    await log.close()
    expect(seen).toEqual([
      { events: ['STORE'], sync: false },
      { events: ['STORE'], sync: true },
      { events: ['READ', 'READ', 'STORE', 'READ'], sync: true },
    ])
  })

  it('syncs nothing when the log is told not to (a disposable network)', async () => {
    const seen: SeenBatch[] = []
    const log = new EventLog(
      { db: await watchedDb(seen), nodeId: NODE, key: TEST_KEY },
      { ...QUIET, sync: false },
    )
    await log.open()
    await log.append(storeFields(0), [], { durable: true })
    await Promise.all([1, 2].map((i) => log.append(storeFields(i), [], { durable: true })))
    await log.close()
    expect(seen.map((b) => b.events.length)).toEqual([1, 2])
    expect(seen.every((b) => !b.sync)).toBe(true)
  })

  it('a write syncs every commit, every home record and its own entry before it is acknowledged; a read syncs nothing', async () => {
    const seen = new Map<string, SeenBatch[]>()
    const nodeIds = ['node-1', 'node-2', 'node-3', 'node-4', 'node-5']
    const net = await MiniNetwork.create({
      nodeIds,
      openDb: async (id) => {
        const list: SeenBatch[] = []
        seen.set(id, list)
        return watchedDb(list)
      },
      auditKey: testAuditKey,
    })
    try {
      const content = new Uint8Array(300_000).map((_, i) => i % 251)
      const put = await net
        .engine('node-1')
        .putContent('a'.repeat(64), 1, content, { author_node_id: 'node-1', created_at_tick: 1 })
      expect(put.ok).toBe(true)
      const all = () => [...seen.values()].flat()
      const commits = all().filter((b) => b.events.includes('REPLICA_COMMIT'))
      // Every holder of a shard, and every home, commits once: at least the three homes.
      expect(commits.length).toBeGreaterThanOrEqual(3)
      expect(commits.every((b) => b.sync)).toBe(true)
      expect(seen.get('node-1')!.filter((b) => b.events.includes('STORE'))).toEqual([
        { events: ['STORE'], sync: true },
      ])

      const read = await net.engine('node-2').getContent('a'.repeat(64), 1)
      expect(read.ok).toBe(true)
      const reads = all().filter((b) => b.events.includes('READ'))
      expect(reads).toEqual([{ events: ['READ'], sync: false }])
    } finally {
      await net.close()
    }
  })
})
