import { MemoryLevel } from 'memory-level'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { EligibleSet } from '../../src/core/placement.js'
import type { StorageEngineInit } from '../../src/engine/engine.js'
import type { ShardHeader } from '../../src/engine/transport.js'
import type { WriteProgress } from '../../src/engine/write.js'
import type { EventFields } from '../../src/log/index.js'
import { MiniNetwork } from '../../src/node/mini-network.js'
import type { RootDb } from '../../src/store/index.js'
import { testAuditKey } from './harness.js'
import { bytesOf, meta } from './suite.js'

/**
 * The public write's own duties (engine-write.ts, and the StorageEngine options that reach it): the
 * event it leaves in the coordinator's log (durable, of the right type, naming what was written,
 * also when refused), the write quorum and preopen distance the engine was built with, and the
 * caller's progress callback.
 */

const NODES = ['node-1', 'node-2', 'node-3', 'node-4', 'node-5']
const COORDINATOR = 'node-1'
let net: MiniNetwork | undefined

async function network(engine: StorageEngineInit = {}): Promise<MiniNetwork> {
  net = await MiniNetwork.create({
    nodeIds: NODES,
    openDb: async () => {
      const db = new MemoryLevel({ keyEncoding: 'view', valueEncoding: 'view' })
      await db.open()
      return db as unknown as RootDb
    },
    auditKey: testAuditKey,
    engine: { timeouts: { requestMs: 5_000, streamIdleMs: 5_000 }, ...engine },
  })
  return net
}

afterEach(async () => {
  await net?.close()
  net = undefined
})

/** The entries the coordinator appends from now on, with the durability each asked for. */
function watchLog(n: MiniNetwork) {
  const spy = vi.spyOn(n.node(COORDINATOR).log, 'append')
  return () =>
    spy.mock.calls.map(([fields, , options]) => ({
      fields: fields as EventFields,
      durable: (options as { durable?: boolean } | undefined)?.durable === true,
    }))
}

describe('the event a write leaves in the coordinator log', () => {
  it('is durable before the write is acknowledged, and names the object, version, epoch, tick and size', async () => {
    const n = await network()
    const entries = watchLog(n)
    const oid = objectId('write-call', 'durable')
    const r = await n.engine(COORDINATOR).putContent(oid, 1, bytesOf('durable', 3000), meta(7))
    expect(r.ok).toBe(true)
    const stores = entries().filter((e) => e.fields.event_type === 'STORE')
    expect(stores).toHaveLength(1)
    expect(stores[0]!.durable).toBe(true)
    expect(stores[0]!.fields).toMatchObject({
      object_id: oid,
      version: 1,
      epoch: 0,
      timestamp_tick: 7,
      content_size: 3000,
    })
  })

  it("records the call's own timestampTick over the metadata's created_at_tick", async () => {
    const n = await network()
    const entries = watchLog(n)
    const oid = objectId('write-call', 'tick')
    const r = await n
      .engine(COORDINATOR)
      .putContent(oid, 1, bytesOf('tick', 100), meta(7), { timestampTick: 99 })
    expect(r.ok).toBe(true)
    const stores = entries().filter((e) => e.fields.event_type === 'STORE')
    expect(stores.map((e) => e.fields.timestamp_tick)).toEqual([99])
  })

  it('is an UPDATE for a later version, not a STORE', async () => {
    const n = await network()
    const oid = objectId('write-call', 'update')
    expect((await n.engine(COORDINATOR).putContent(oid, 1, bytesOf('u1', 100), meta(1))).ok).toBe(true)
    const entries = watchLog(n)
    const r = await n.engine(COORDINATOR).putContent(oid, 2, bytesOf('u2', 100), meta(2))
    expect(r).toMatchObject({ ok: true, kind: 'UPDATE' })
    // The coordinator, a replica too, also logs its REPLICA_COMMIT; the call's own event is one UPDATE.
    const own = entries().filter((e) => e.fields.event_type !== 'REPLICA_COMMIT')
    expect(own.map((e) => e.fields.event_type)).toEqual(['UPDATE'])
  })

  it('of a refused write still names the object and version it refused', async () => {
    const n = await network()
    const oid = objectId('write-call', 'refused')
    const entries = watchLog(n)
    // Version 2 of an object that has no version 1: a gap, refused.
    const r = await n.engine(COORDINATOR).putContent(oid, 2, bytesOf('gap', 100), meta(1))
    expect(r.ok).toBe(false)
    const logged = entries()
    expect(logged).toHaveLength(1)
    expect(logged[0]!.fields).toMatchObject({ event_type: 'UPDATE', object_id: oid, version: 2 })
    expect(logged[0]!.fields.error_code).not.toBeNull()
  })
})

describe('the StorageEngine options a write obeys', () => {
  /** An object and a replica of its shard 0 other than the coordinator. */
  function objectWithReplicaAway() {
    const eligible = new EligibleSet(NODES)
    for (let i = 0; ; i++) {
      const oid = objectId('write-call', `quorum-${i}`)
      const replicas = eligible.place(shardId(oid, 1, 0), DEFAULT_PARAMS.replicationFactor).selected
      const away = replicas.find((r) => r !== COORDINATOR)
      if (away !== undefined) return { oid, away }
    }
  }

  it('takes writeQuorum from the engine: 3 of 3 replicas refuses a write the default majority acknowledges', async () => {
    const { oid, away } = objectWithReplicaAway()
    const strict = await network({ writeQuorum: 3 })
    strict.transport.setDown(away, true)
    const refused = await strict.engine(COORDINATOR).putContent(oid, 1, bytesOf('q', 1000), meta(1))
    expect(refused).toMatchObject({ ok: false, code: 'QUORUM_NOT_REACHED' })
    await strict.close()

    const plain = await network()
    plain.transport.setDown(away, true)
    const taken = await plain.engine(COORDINATOR).putContent(oid, 1, bytesOf('q', 1000), meta(1))
    expect(taken.ok).toBe(true)
  })

  it('takes preopenBytes from the engine: with 0, no shard opens before the bytes before it were taken', async () => {
    const n = await network({ preopenBytes: 0 })
    const size = 2 * 1024 * 1024
    const shardBytes = size / DEFAULT_PARAMS.numShardsPerObject
    let taken = 0
    const openedAt: Array<{ shard: number; taken: number }> = []
    const open = n.transport.openShard.bind(n.transport)
    vi.spyOn(n.transport, 'openShard').mockImplementation((node, header: ShardHeader, options) => {
      openedAt.push({ shard: header.shard_index, taken })
      return open(node, header, options)
    })
    const content = bytesOf('preopen', size)
    const chunk = 64 * 1024
    async function* chunks() {
      for (let at = 0; at < size; at += chunk) {
        taken = at + chunk
        yield content.subarray(at, at + chunk)
      }
    }
    const r = await n
      .engine(COORDINATOR)
      .putContent(objectId('write-call', 'preopen'), 1, { size, chunks: chunks() }, meta(1))
    expect(r.ok).toBe(true)
    const later = openedAt.filter((o) => o.shard > 0)
    expect(later.length).toBeGreaterThan(0)
    for (const o of later) expect(o.taken).toBeGreaterThanOrEqual(o.shard * shardBytes)
  })

  it("tells the caller's onProgress of each phase, ending with the commit of every byte", async () => {
    const n = await network()
    const seen: WriteProgress[] = []
    const r = await n
      .engine(COORDINATOR)
      .putContent(objectId('write-call', 'progress'), 1, bytesOf('p', 5000), meta(1), {
        onProgress: (p) => seen.push(p),
      })
    expect(r.ok).toBe(true)
    expect(seen.at(-1)).toEqual({ phase: 'commit', bytes: 5000, total: 5000 })
  })
})
