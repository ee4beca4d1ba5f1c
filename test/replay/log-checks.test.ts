import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import type { StorageEvent } from '../../src/log/index.js'
import { replayNetwork, replayNodeLog } from '../../src/replay/index.js'
import { inProcessHarness } from '../engine/harness.js'
import { bytesOf, meta } from '../engine/suite.js'

type Harness = Awaited<ReturnType<typeof inProcessHarness>>

async function logOf(h: Harness, id: string): Promise<StorageEvent[]> {
  const out: StorageEvent[] = []
  for await (const e of h.net.node(id).log.iterate()) out.push(e)
  return out
}

describe('replay checks what it reads', () => {
  let h: Harness
  let homes: string[]
  let outsiders: string[]
  const oid = objectId('replay-checks', 'one')

  beforeAll(async () => {
    h = await inProcessHarness(5)
    const r = await h.engine('node-1').putContent(oid, 1, bytesOf('replay-checks', 5000), meta(1))
    expect(r.ok).toBe(true)
    const all = (await Promise.all(h.nodeIds.map((id) => logOf(h, id)))).flat()
    const commit = all.find((e) => e.event_type === 'REPLICA_COMMIT')!
    homes = (commit.details as { catalogue_homes: string[] }).catalogue_homes
    outsiders = h.nodeIds.filter((n) => !homes.includes(n))
    expect(homes.length).toBe(3)
    expect(outsiders.length).toBe(2)
  })
  afterAll(async () => {
    await h?.close()
  })

  it('the honest logs make the version exist, with its homes', async () => {
    const logs = await Promise.all(
      h.nodeIds.map(async (nodeId) => ({ nodeId, events: await logOf(h, nodeId) })),
    )
    const entry = (await replayNetwork(logs)).catalogue.find((c) => c.object_id === oid)
    expect(entry?.homes).toEqual([...homes].sort())
  })

  it('refuses a log filed under another node id than its entries name, and two logs for one node', async () => {
    const home = homes[0]!
    const events = await logOf(h, home)
    await expect(replayNodeLog('node-impostor', events)).rejects.toMatchObject({
      code: 'LOG_IDENTITY_MISMATCH',
    })
    // One home's log counted as two homes would make a version exist on a single home's word.
    await expect(
      replayNetwork([
        { nodeId: home, events },
        { nodeId: 'node-impostor', events },
      ]),
    ).rejects.toMatchObject({ code: 'LOG_IDENTITY_MISMATCH' })
    await expect(
      replayNetwork([
        { nodeId: home, events },
        { nodeId: home, events },
      ]),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' })
  })

  it('counts as a home only a node the record lists in catalogue_homes', async () => {
    const home = homes[0]!
    const outsider = outsiders[0]!
    // The outsider's log claims the home's commits as its own (a lying or buggy node says home: true).
    const claimed = (await logOf(h, home)).map((e) => ({ ...e, node_id: outsider }))
    const state = await replayNetwork([
      { nodeId: home, events: await logOf(h, home) },
      { nodeId: outsider, events: claimed },
    ])
    expect(state.catalogue.find((c) => c.object_id === oid)).toBeUndefined()
    // With a second real home the version exists, and the outsider is still not one of its homes.
    const second = homes[1]!
    const withSecond = await replayNetwork([
      { nodeId: home, events: await logOf(h, home) },
      { nodeId: second, events: await logOf(h, second) },
      { nodeId: outsider, events: claimed },
    ])
    expect(withSecond.catalogue.find((c) => c.object_id === oid)?.homes).toEqual([home, second].sort())
  })

  it('a damaged REPLICA_COMMIT is LOG_CORRUPT naming its seq, never a crash or INVALID_INPUT', async () => {
    const node = homes[0]!
    const events = await logOf(h, node)
    const at = events.findIndex(
      (e) => e.event_type === 'REPLICA_COMMIT' && (e.details as { shards: unknown[] }).shards.length > 0,
    )
    expect(at).toBeGreaterThanOrEqual(0)
    const seq = events[at]!.seq
    const shard0 = (d: Record<string, unknown>) => (d.shards as Array<Record<string, unknown>>)[0]!
    const damage: Array<[string, (d: Record<string, unknown>) => void]> = [
      [
        'details empty',
        (d) => {
          for (const k of Object.keys(d)) delete d[k]
        },
      ],
      ['shards: [null]', (d) => void (d.shards = [null])],
      ['shards: [1]', (d) => void (d.shards = [1])],
      ['shards not an array', (d) => void (d.shards = {})],
      ['shard_id not hex', (d) => void (shard0(d).shard_id = 'zz')],
      ['shard_id upper-case', (d) => void (shard0(d).shard_id = String(shard0(d).shard_id).toUpperCase())],
      ['merkle_root missing', (d) => void delete shard0(d).merkle_root],
      ['length a string', (d) => void (shard0(d).length = '7')],
      ['length negative', (d) => void (shard0(d).length = -1)],
      ['leaf_count a fraction', (d) => void (shard0(d).leaf_count = 1.5)],
      ['shard_index missing', (d) => void delete shard0(d).shard_index],
      ['unknown kind', (d) => void (d.kind = 'REWRITE')],
      ['kind missing', (d) => void delete d.kind],
      ['home a string', (d) => void (d.home = 'yes')],
      ['record_digest not hex', (d) => void (d.record_digest = 'digest')],
      ['catalogue_homes holds a number', (d) => void (d.catalogue_homes = [1])],
      ['metadata not an object', (d) => void (d.metadata = 'm')],
      ['metadata not normalized', (d) => void ((d.metadata as Record<string, unknown>).tags = ['UPPER'])],
    ]
    for (const [name, edit] of damage) {
      const damaged = events.map((e, i) => {
        if (i !== at) return e
        const copy = structuredClone(e)
        edit(copy.details as Record<string, unknown>)
        return copy
      })
      const outcome = await replayNodeLog(node, damaged).then(
        () => null,
        (err: { code?: string; message?: string }) => err,
      )
      expect(outcome, name).toMatchObject({ code: 'LOG_CORRUPT' })
      expect(outcome!.message, name).toContain(`REPLICA_COMMIT entry ${seq} `)
    }
    // A commit without details or without its version fields is as corrupt.
    for (const change of [
      { details: null },
      { hash_commit: null },
      { version: null },
      { object_id: null },
      { content_size: null },
    ]) {
      const damaged = events.map((e, i) => (i === at ? { ...e, ...change } : e))
      await expect(replayNodeLog(node, damaged)).rejects.toMatchObject({ code: 'LOG_CORRUPT' })
    }
  })
  it('a later commit of a version as a mere holder leaves the node its home, as the store does', async () => {
    const home = homes[0]!
    const events = await logOf(h, home)
    const commit = events.find((e) => e.event_type === 'REPLICA_COMMIT' && e.object_id === oid)!
    expect((commit.details as { home: boolean }).home).toBe(true)
    // A repair delivering a shard to the home commits the same record again with home: false.
    const repair = {
      ...commit,
      seq: events.length,
      details: { ...(commit.details as Record<string, unknown>), home: false, shards: [] },
    }
    const before = await replayNodeLog(home, events)
    const after = await replayNodeLog(home, [...events, repair])
    expect(after.index.find((e) => e.object_id === oid)?.home).toBe(true)
    expect(after).toEqual(before)
  })
})
