import { sha3_256 } from '@noble/hashes/sha3.js'
import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import type { StoreSuccess } from '../../src/engine/responses.js'
import type { ShardSink, StagedShardInfo } from '../../src/engine/transport.js'
import type { StorageEvent } from '../../src/log/index.js'
import {
  engineOn,
  eventually,
  expectOk,
  findObject,
  gate,
  type Harness,
  networkPerTest,
  recordAt,
  same,
  stagedOn,
  wrapAll,
} from './consistency-claims-helpers.js'
import { bytesOf, meta } from './suite.js'

/**
 * The statements of docs/consistency.md about a write (stage, decide, commit, acknowledge) that
 * no other test pinned. Each
 * test injects its faults into the in-process transport of a fresh network.
 */

let h: Harness
const undo: Array<() => void> = []
networkPerTest((net) => {
  h = net
}, undo)

describe('a write: stage, decide, commit', () => {
  it('keeps staged bytes out of every read, listing and proof; the version exists once a majority of homes took it, and only then do holders commit', async () => {
    const p = findObject(h.nodeIds, 'invisible', (o) =>
      o.replicas.some((r) => r.some((n) => !o.homes.includes(n))),
    )
    const [first] = p.homes as [string, string, string]
    const writer = h.nodeIds.find((n) => !p.homes.includes(n))!
    const reader = engineOn(h, h.nodeIds.find((n) => n !== writer)!)
    const events: string[] = []
    const waiting = gate()
    const decide = gate()
    let held = 0
    undo.push(
      wrapAll(h.net.transport, 'commitVersion', async (original, node, ...rest) => {
        const home = p.homes.includes(node)
        if (!home) events.push(`holder ${node}`)
        if (home && node !== first) {
          if (++held === 2) waiting.open()
          await decide.opened
        }
        const answer = await original(node, ...rest)
        if (home) events.push(`home ${node}`)
        return answer
      }),
    )
    const content = bytesOf('invisible', 5000)
    const put = h.engine(writer).putContent(p.oid, 1, content, meta(1))
    await waiting.opened
    await eventually(() => events.includes(`home ${first}`))
    // Staged on every replica, committed only at the one home that took the record.
    const staged = await Promise.all(h.nodeIds.map((n) => stagedOn(h, n, p.oid)))
    expect(staged.reduce((a, b) => a + b, 0)).toBeGreaterThan(0)
    const record = (await recordAt(h, first, p.oid, 1))!
    for (const s of record.shards) {
      for (const n of s.replicas.filter((r) => r !== first)) {
        expect(await h.net.node(n).store.getManifest(s.shard_id)).toBeUndefined()
        if (s.leaf_count > 0) {
          await expect(h.net.node(n).service.proveShard(s.shard_id, 0)).rejects.toMatchObject({
            code: 'NOT_FOUND',
          })
        }
      }
    }
    // One home of three holds the record: no version for readers, listings or proofs.
    expect(await reader.getContent(p.oid, 1)).toMatchObject({ ok: false, code: 'NOT_FOUND' })
    expect(await reader.getContent(p.oid)).toMatchObject({ ok: false, code: 'NOT_FOUND' })
    expect(await reader.listObjects({ prefix: p.oid })).toMatchObject({ ok: true, objects: [] })
    expect(await reader.getStorageProof(p.oid, 1, record.shards[0]!.shard_id)).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    })
    expect(events.filter((e) => e.startsWith('holder'))).toEqual([])

    decide.open()
    expectOk(await put)
    // Every commit to a holder outside the homes came after a majority of homes took the record.
    const holders = events.map((e, i) => [e, i] as const).filter(([e]) => e.startsWith('holder'))
    const homesDone = events.map((e, i) => [e, i] as const).filter(([e]) => e.startsWith('home'))
    expect(holders.length).toBeGreaterThan(0)
    expect(holders.every(([, i]) => i > homesDone[1]![1])).toBe(true)
    const got = await reader.getContent(p.oid, 1)
    expect(got.ok && same(got.content_bytes, content)).toBe(true)
  })

  it.each([
    ['root', (s: StagedShardInfo) => ({ ...s, merkle_root: 'ab'.repeat(32) })],
    ['leaf count', (s: StagedShardInfo) => ({ ...s, leaf_count: s.leaf_count + 1 })],
  ])(
    'drops a holder whose staged %s differs from the coordinator’s: it is under-replicated and keeps nothing of the shard',
    async (_what, lie) => {
      const writer = h.nodeIds[0]!
      const p = findObject(h.nodeIds, 'liar', (o) =>
        o.replicas[0]!.some((n) => n !== writer && !o.homes.includes(n)),
      )
      const liar = p.replicas[0]!.find((n) => n !== writer && !p.homes.includes(n))!
      undo.push(
        wrapAll(h.net.transport, 'stageShards', async (original, node, ...rest) => {
          const staged = (await original(node, ...rest)) as StagedShardInfo[]
          if (node !== liar) return staged
          return staged.map((s, i) => (i === 0 ? lie(s) : s))
        }),
      )
      const put = await h.engine(writer).putContent(p.oid, 1, bytesOf('liar', 5000), meta(1))
      expectOk(put)
      const shard0 = put.shard_ids[0]!
      expect(put.under_replicated[shard0]).toEqual([liar])
      expect(await h.net.node(liar).store.getManifest(shard0)).toBeUndefined()
      // Its staging is taken back (in the background).
      await eventually(async () => (await stagedOn(h, liar, p.oid)) === 0)
    },
  )

  it('fails a decide that reaches one home with QUORUM_NOT_REACHED, leaves the stagings to the sweep, which takes them back, and leaves a minority record nobody reads, lists or rolls forward', async () => {
    const p = findObject(h.nodeIds, 'minority', () => true)
    const [h1, h2, h3] = p.homes as [string, string, string]
    const writer = h.nodeIds.find((n) => !p.homes.includes(n))!
    const reader = engineOn(h, writer)
    const refuse = wrapAll(h.net.transport, 'commitVersion', async (original, node, ...rest) => {
      if (node === h2 || node === h3) throw new NodeUnavailableError(`${node} is unreachable`)
      return original(node, ...rest)
    })
    undo.push(refuse)
    const content = bytesOf('minority', 5000)
    expect(await h.engine(writer).putContent(p.oid, 1, content, meta(1))).toMatchObject({
      ok: false,
      code: 'QUORUM_NOT_REACHED',
      error_code: 'SE_ERR_NO_ELIGIBLE_NODES',
    })
    // For all the coordinator knows, h2 and h3 took the record: it leaves the stagings to the sweep,
    // whose roll-forward asks the homes, finds a minority record, and calls them unneeded.
    let kept = 0
    for (const n of h.nodeIds) {
      const stale = (await h.net.node(n).store.staleStaged(0)).filter((s) => s.objectId === p.oid)
      kept += stale.length
      const r = await h.net.engine(n).rollForwardStaged(stale)
      expect(r).toEqual({ committed: [], unneeded: stale.map((s) => s.stagingId), undecided: [] })
      await h.net.node(n).store.sweepStaging({ olderThanMs: 0, removeStaged: new Set(r.unneeded) })
    }
    expect(kept).toBeGreaterThan(0)
    for (const n of h.nodeIds) expect(await stagedOn(h, n, p.oid)).toBe(0)
    expect(await recordAt(h, h1, p.oid, 1)).toBeDefined()
    expect(await recordAt(h, h2, p.oid, 1)).toBeUndefined()
    expect(await reader.getContent(p.oid, 1)).toMatchObject({ ok: false, code: 'NOT_FOUND' })
    expect(await reader.getContent(p.oid)).toMatchObject({ ok: false, code: 'NOT_FOUND' })
    expect(await reader.listObjects({ prefix: p.oid })).toMatchObject({ ok: true, objects: [] })
    refuse()
    undo.pop()
    // Another record for v is refused and never reaches the homes that missed the first.
    expect(await h.engine(writer).putContent(p.oid, 1, bytesOf('other', 5000), meta(1))).toMatchObject({
      ok: false,
      code: 'VERSION_CONFLICT',
    })
    expect(await recordAt(h, h2, p.oid, 1)).toBeUndefined()
    expect(await recordAt(h, h3, p.oid, 1)).toBeUndefined()
    // The identical write completes it.
    expectOk(await h.engine(writer).putContent(p.oid, 1, content, meta(1)))
    for (const n of h.nodeIds) {
      const got = await engineOn(h, n).getContent(p.oid, 1)
      expect(got.ok && same(got.content_bytes, content)).toBe(true)
    }
  })

  it('never rolls forward a minority record: its staged shards are unneeded', async () => {
    const p = findObject(h.nodeIds, 'minority-roll', (o) =>
      o.replicas.some((r) => r.some((n) => !o.homes.includes(n))),
    )
    const [, h2, h3] = p.homes as [string, string, string]
    const writer = h.nodeIds.find((n) => !p.homes.includes(n))!
    // The coordinator dies during the decide: one home took the record, nothing is taken back.
    undo.push(
      wrapAll(h.net.transport, 'commitVersion', async (original, node, ...rest) => {
        if (node === h2 || node === h3) throw new NodeUnavailableError(`${node} is unreachable`)
        return original(node, ...rest)
      }),
      wrapAll(h.net.transport, 'abortStaging', async () => {}),
    )
    expect((await h.engine(writer).putContent(p.oid, 1, bytesOf('dies', 5000), meta(1))).ok).toBe(false)
    for (const u of undo.splice(0).reverse()) u()
    let left = 0
    for (const n of h.nodeIds) {
      const stale = (await h.net.node(n).store.staleStaged(0)).filter((s) => s.objectId === p.oid)
      left += stale.length
      expect(await h.net.engine(n).rollForwardStaged(stale)).toEqual({
        committed: [],
        unneeded: stale.map((s) => s.stagingId),
        undecided: [],
      })
    }
    expect(left).toBeGreaterThan(0)
  })

  it('answers QUORUM_NOT_REACHED for a decided version whose shards did not commit on a majority; the same write again commits them', async () => {
    const p = findObject(h.nodeIds, 'not-durable', (o) =>
      o.replicas.some((r) => r.filter((n) => !o.homes.includes(n)).length >= 2),
    )
    const writer = h.nodeIds[0]!
    const stop = wrapAll(h.net.transport, 'commitVersion', async (original, node, ...rest) => {
      if (!p.homes.includes(node)) throw new NodeUnavailableError('coordinator stopped before this commit')
      return original(node, ...rest)
    })
    undo.push(stop)
    const content = bytesOf('not-durable', 5000)
    expect(await h.engine(writer).putContent(p.oid, 1, content, meta(1))).toMatchObject({
      ok: false,
      code: 'QUORUM_NOT_REACHED',
    })
    for (const home of p.homes) expect(await recordAt(h, home, p.oid, 1)).toBeDefined()
    stop()
    undo.pop()
    const again = await h.engine(writer).putContent(p.oid, 1, content, meta(1))
    expectOk(again)
    expect(again.under_replicated).toEqual({})
    const record = (await recordAt(h, p.homes[0]!, p.oid, 1))!
    for (const s of record.shards) {
      for (const n of s.replicas) {
        expect(await h.net.node(n).store.getManifest(s.shard_id)).toMatchObject({ merkleRoot: s.merkle_root })
      }
    }
  })
})

describe('what an acknowledgement guarantees', () => {
  it('every shard is committed on at least a majority of its replicas, each with its audit entry, and the coordinator logs who is missing', async () => {
    const writer = h.nodeIds[0]!
    const down = h.nodeIds[3]!
    const p = findObject(h.nodeIds, 'durable', (o) => o.replicas.some((r) => r.includes(down)))
    await h.setDown(down, true)
    let put: StoreSuccess
    try {
      const r = await h.engine(writer).putContent(p.oid, 1, bytesOf('durable', 70_000), meta(1))
      expectOk(r)
      put = r
    } finally {
      await h.setDown(down, false)
    }
    expect(Object.values(put.under_replicated).flat()).toContain(down)
    const logOf = async (n: string) => {
      const out: StorageEvent[] = []
      for await (const e of h.net.node(n).log.iterate()) out.push(e)
      return out
    }
    const store = (await logOf(writer)).find((e) => e.object_id === p.oid && e.event_type === 'STORE')!
    expect(store.details).toMatchObject({ under_replicated: put.under_replicated })
    for (const id of put.shard_ids) {
      const holding: string[] = []
      for (const n of put.replica_sets[id]!) {
        if ((await h.net.node(n).store.getManifest(id)) === undefined) continue
        holding.push(n)
        const commits = (await logOf(n)).filter((e) => e.event_type === 'REPLICA_COMMIT')
        expect(commits.some((e) => e.object_id === p.oid && e.shard_ids.includes(id))).toBe(true)
      }
      expect(holding.length).toBeGreaterThanOrEqual(2)
      expect(holding).toEqual(
        put.replica_sets[id]!.filter((n) => !(put.under_replicated[id] ?? []).includes(n)),
      )
    }
  })

  it('content survives the loss of any one node', async () => {
    const p = findObject(h.nodeIds, 'any-one', () => true)
    const content = bytesOf('any-one', 600_000)
    const put = await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, content, meta(1))
    expectOk(put)
    expect(put.under_replicated).toEqual({})
    for (const lost of h.nodeIds) {
      await h.setDown(lost, true)
      try {
        const reader = engineOn(h, h.nodeIds.find((n) => n !== lost)!)
        const got = await reader.getContent(p.oid, 1)
        expect(got.ok && same(got.content_bytes, content)).toBe(true)
      } finally {
        await h.setDown(lost, false)
      }
    }
  })
})

describe('staging', () => {
  it('hands each block of a streamed shard to its replicas with the leaf hash the coordinator computed; a small object goes whole, as bytes the node hashes', async () => {
    const writer = h.nodeIds[0]!
    const sent: Array<{ block: Uint8Array; leaf?: Uint8Array }> = []
    const whole: unknown[] = []
    undo.push(
      wrapAll(h.net.transport, 'openShard', async (original, node, ...rest) => {
        const sink = (await original(node, ...rest)) as ShardSink
        return {
          ...sink,
          write: (block: Uint8Array, leaf?: Uint8Array) => {
            sent.push({ block, leaf })
            return sink.write(block, leaf)
          },
        } satisfies ShardSink
      }),
      wrapAll(h.net.transport, 'stageShards', (original, node, ...rest) => {
        whole.push(...(rest[0] as unknown[]))
        return original(node, ...rest)
      }),
    )
    const p = findObject(h.nodeIds, 'leaves', () => true)
    expectOk(await h.engine(writer).putContent(p.oid, 1, bytesOf('leaves', 600_000), meta(1)))
    expect(sent.length).toBeGreaterThan(0)
    // The leaf hash of RFC 9162 (H(0x00 || block)), computed here with @noble/hashes.
    for (const { block, leaf } of sent)
      expect(toHex(leaf!)).toBe(toHex(sha3_256(new Uint8Array([0, ...block]))))
    expect(whole).toEqual([])
    const small = findObject(h.nodeIds, 'leaves-small', () => true)
    expectOk(await h.engine(writer).putContent(small.oid, 1, bytesOf('leaves-small', 5000), meta(1)))
    expect(whole.length).toBeGreaterThan(0)
    for (const request of whole) expect(Object.keys(request as object).sort()).toEqual(['bytes', 'header'])
  })
})
