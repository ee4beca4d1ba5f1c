import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import type { StorageEvent } from '../../src/log/index.js'
import {
  liveNetwork,
  liveNodeState,
  type NodeState,
  networkHash,
  replayNetwork,
  replayNodeLog,
  stateHash,
} from '../../src/replay/index.js'
import { inProcessHarness } from '../engine/harness.js'
import { bytesOf, meta } from '../engine/suite.js'

type Harness = Awaited<ReturnType<typeof inProcessHarness>>

async function collect(h: Harness, nodeId: string): Promise<StorageEvent[]> {
  const out: StorageEvent[] = []
  for await (const e of h.net.node(nodeId).log.iterate()) out.push(e)
  return out
}

describe('replay', () => {
  let h: Harness
  const acknowledged = new Map<string, string>() // `${oid}/${v}` -> hash_commit

  beforeAll(async () => {
    h = await inProcessHarness(5)
    // A scripted history: 60 objects, updates, delete markers, and one node down for a stretch.
    const latest = new Map<string, number>()
    let ops = 0
    for (let step = 0; step < 240; step++) {
      const n = step % 60
      const oid = objectId('replay', `obj-${n}`)
      const coordinator = h.nodeIds[step % 5]!
      if (step === 100) await h.setDown('node-4', true)
      if (step === 140) await h.setDown('node-4', false)
      if (step >= 100 && step < 140 && coordinator === 'node-4') continue
      const v = (latest.get(oid) ?? 0) + 1
      const e = h.engine(coordinator)
      const r =
        step % 11 === 10
          ? await e.deleteContent(oid, v, meta(step))
          : await e.putContent(
              oid,
              v,
              bytesOf(`replay-${step}`, (step * 7919) % 70_000),
              meta(step, { tags: [`t${n % 4}`] }),
            )
      if (r.ok) {
        latest.set(oid, v)
        acknowledged.set(`${oid}/${v}`, r.hash_commit)
        ops++
      }
    }
    expect(ops).toBeGreaterThan(200)
  }, 120_000)
  afterAll(async () => {
    await h?.close()
  })

  it('rebuilds every node’s index, shards and metrics from its log alone', async () => {
    for (const nodeId of h.nodeIds) {
      const node = h.net.node(nodeId)
      const live = await liveNodeState(nodeId, node.store)
      const replayed = await replayNodeLog(nodeId, node.log.iterate())
      expect(replayed).toEqual(live)
      expect(stateHash(replayed)).toBe(stateHash(live))
      // The store's persisted counters agree with both.
      const stats = await node.store.stats()
      expect({ versions: stats.versions, shards: stats.shards, bytes: stats.bytes_stored }).toEqual({
        versions: live.metrics.versions,
        shards: live.metrics.shards,
        bytes: live.metrics.bytes_stored,
      })
    }
  })

  it('rebuilds the network catalogue identically whatever order the logs are read in', async () => {
    const logs = await Promise.all(
      h.nodeIds.map(async (nodeId) => ({ nodeId, events: await collect(h, nodeId) })),
    )
    const states: NodeState[] = []
    for (const nodeId of h.nodeIds) states.push(await liveNodeState(nodeId, h.net.node(nodeId).store))
    const live = liveNetwork(states)
    const reference = networkHash(await replayNetwork(logs))
    expect(reference).toBe(networkHash(live))
    await fc.assert(
      fc.asyncProperty(
        fc.shuffledSubarray(logs, { minLength: logs.length, maxLength: logs.length }),
        async (order) => {
          expect(networkHash(await replayNetwork(order))).toBe(reference)
        },
      ),
      { seed: 42, numRuns: 10 },
    )
    // Every acknowledged write is in the catalogue with the commitment the client got, and nothing else is.
    const catalogue = (await replayNetwork(logs)).catalogue
    expect(new Map(catalogue.map((c) => [`${c.object_id}/${c.version}`, c.hash_commit]))).toEqual(
      acknowledged,
    )
  })

  it('detects a log that does not match the store', async () => {
    const node = h.net.node('node-1')
    const events = await collect(h, 'node-1')
    const commits = events.filter((e) => e.event_type === 'REPLICA_COMMIT')
    const dropped = events.filter((e) => e !== commits[commits.length - 1])
    const live = await liveNodeState('node-1', node.store)
    expect(stateHash(await replayNodeLog('node-1', dropped))).not.toBe(stateHash(live))
  })
})
