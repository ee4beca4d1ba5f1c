import { describe, expect, it } from 'vitest'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import {
  engineOn,
  expectOk,
  findObject,
  gate,
  type Harness,
  networkPerTest,
  orderDecides,
  recordAt,
  same,
  stagedOn,
  wrapAll,
} from './consistency-claims-helpers.js'
import { bytesOf, meta } from './suite.js'

/**
 * The statements of docs/consistency.md about racing writers and the roll-forward that no other test
 * pinned. Each test orders or injects its faults in the in-process
 * transport of a fresh network.
 */

let h: Harness
const undo: Array<() => void> = []
networkPerTest((net) => {
  h = net
}, undo)

describe('racing writers', () => {
  it('a home that took the loser’s record first keeps it and the loser’s shards; the winner is under-replicated there, and a read through that node skips its copy', async () => {
    const p = findObject(h.nodeIds, 'loser-home', (o) => o.replicas.some((r) => r.includes(o.homes[0]!)))
    const [h1, h2, h3] = p.homes as [string, string, string]
    const [cx, cy] = h.nodeIds.filter((n) => !p.homes.includes(n)) as [string, string]
    undo.push(
      orderDecides(h.net.transport, { oid: p.oid, version: 1, homes: p.homes }, [
        { tick: 11, homes: [h1] },
        { tick: 12, homes: [h2, h3] },
      ]),
    )
    const [cX, cY] = [bytesOf('loser-x', 5000), bytesOf('loser-y', 5000)]
    const [x, y] = await Promise.all([
      h.engine(cx).putContent(p.oid, 1, cX, meta(11)),
      h.engine(cy).putContent(p.oid, 1, cY, meta(12)),
    ])
    for (const u of undo.splice(0).reverse()) u()
    expect(x).toMatchObject({ ok: false, code: 'VERSION_CONFLICT' })
    expectOk(y)
    expect((await recordAt(h, h1, p.oid, 1))?.timestamp_tick).toBe(11)
    expect((await recordAt(h, h2, p.oid, 1))?.timestamp_tick).toBe(12)
    // The loser's shards held by h1 are committed there; the winner's are missing on h1.
    const onH1 = y.shard_ids.filter((id) => y.replica_sets[id]!.includes(h1))
    expect(onH1.length).toBeGreaterThan(0)
    for (const id of onH1) {
      expect(y.under_replicated[id]).toContain(h1)
      expect(await h.net.node(h1).store.getManifest(id)).toBeDefined()
    }
    // The loser's staging is taken back everywhere else; the winner's at h1 is left staged.
    for (const n of h.nodeIds.filter((n) => n !== h1)) expect(await stagedOn(h, n, p.oid)).toBe(0)
    expect(await stagedOn(h, h1, p.oid)).toBe(onH1.length)
    // Readers see only the winner, through every node; h1's own copy is skipped as the loser's (counted
    // as a refusal, VERSION_CONFLICT: a copy of another record is not bad data).
    const failures: string[] = []
    for (const n of h.nodeIds) {
      const health = {
        failed: (node: string, code: string) => failures.push(`${n}>${node}:${code}`),
        answered: () => {},
        suspect: () => false,
      }
      const got = await engineOn(h, n, {}, health).getContent(p.oid, 1)
      expect(got.ok && same(got.content_bytes, cY)).toBe(true)
      if (n === h1 && got.ok) {
        for (const proof of got.proofs.filter((s) => onH1.includes(s.shard_id)))
          expect(proof.served_by).not.toBe(h1)
      }
    }
    expect(failures.filter((f) => f.startsWith(`${h1}>`))).toEqual(
      onH1.map(() => `${h1}>${h1}:VERSION_CONFLICT`),
    )
    // The winner's staging at h1 cannot commit there: it waits for the sweep's day limit.
    const stale = (await h.net.node(h1).store.staleStaged(0)).filter((s) => s.objectId === p.oid)
    expect(await h.net.engine(h1).rollForwardStaged(stale)).toEqual({
      committed: [],
      unneeded: [],
      undecided: stale.map((s) => s.stagingId),
    })
  })

  it('two writers split by an unreachable home both fail; the identical write of either then completes the version', async () => {
    const p = findObject(h.nodeIds, 'split', () => true, 2)
    const [h1, h2, h3] = p.homes as [string, string, string]
    const [cx, cy] = h.nodeIds.filter((n) => !p.homes.includes(n)) as [string, string]
    const first = bytesOf('split-1', 3000)
    expectOk(await h.engine(cx).putContent(p.oid, 1, first, meta(1)))
    await h.setDown(h3, true)
    undo.push(
      orderDecides(h.net.transport, { oid: p.oid, version: 2, homes: p.homes }, [
        { tick: 11, homes: [h1] },
        { tick: 12, homes: [h2] },
      ]),
    )
    const [cX, cY] = [bytesOf('split-x', 5000), bytesOf('split-y', 5000)]
    const [x, y] = await Promise.all([
      h.engine(cx).putContent(p.oid, 2, cX, meta(11)),
      h.engine(cy).putContent(p.oid, 2, cY, meta(12)),
    ])
    for (const u of undo.splice(0).reverse()) u()
    await h.setDown(h3, false)
    // Each had one home take its record and one refuse it; the unreachable third could have taken
    // either, for all its coordinator knows: neither is told its write is refused.
    expect(x).toMatchObject({ ok: false, code: 'QUORUM_NOT_REACHED' })
    expect(y).toMatchObject({ ok: false, code: 'QUORUM_NOT_REACHED' })
    const reader = engineOn(h, cx)
    expect(await reader.getContent(p.oid, 2)).toMatchObject({ ok: false, code: 'NOT_FOUND' })
    // The highest version a majority of homes hold is 2, and no record of it has a majority: the
    // latest readable version is 1.
    const during = await reader.getContent(p.oid)
    expect(during.ok && during.version === 1 && same(during.content_bytes, first)).toBe(true)
    expectOk(await h.engine(cx).putContent(p.oid, 2, cX, meta(11)))
    expect(await h.engine(cy).putContent(p.oid, 2, cY, meta(12))).toMatchObject({
      ok: false,
      code: 'VERSION_CONFLICT',
    })
    for (const n of h.nodeIds) {
      const got = await engineOn(h, n).getContent(p.oid, 2)
      expect(got.ok && same(got.content_bytes, cX)).toBe(true)
    }
    expect(await reader.getContent(p.oid)).toMatchObject({ ok: true, version: 2 })
  })

  it('three writers can split the homes with every home reachable; the version then stays undecided and the object goes on at the next one', async () => {
    const p = findObject(h.nodeIds, 'three-way', () => true, 2)
    const writers = h.nodeIds.slice(0, 3)
    const first = bytesOf('three-1', 3000)
    expectOk(await h.engine(writers[0]!).putContent(p.oid, 1, first, meta(1)))
    undo.push(
      orderDecides(
        h.net.transport,
        { oid: p.oid, version: 2, homes: p.homes },
        p.homes.map((home, i) => ({ tick: 11 + i, homes: [home] })),
      ),
    )
    const contents = writers.map((w) => bytesOf(`three-${w}`, 5000))
    const results = await Promise.all(
      writers.map((w, i) => h.engine(w).putContent(p.oid, 2, contents[i]!, meta(11 + i))),
    )
    for (const u of undo.splice(0).reverse()) u()
    for (const r of results) expect(r).toMatchObject({ ok: false, code: 'VERSION_CONFLICT' })
    for (const [i, home] of p.homes.entries()) {
      expect((await recordAt(h, home, p.oid, 2))?.timestamp_tick).toBe(11 + i)
    }
    // No retry can complete version 2: every home holds a record of its own.
    expect(await h.engine(writers[0]!).putContent(p.oid, 2, contents[0]!, meta(11))).toMatchObject({
      ok: false,
      code: 'VERSION_CONFLICT',
    })
    const reader = engineOn(h, h.nodeIds[4]!)
    expect(await reader.getContent(p.oid, 2)).toMatchObject({ ok: false, code: 'NOT_FOUND' })
    const during = await reader.getContent(p.oid)
    expect(during.ok && during.version === 1 && same(during.content_bytes, first)).toBe(true)
    const next = bytesOf('three-3', 3000)
    expectOk(await h.engine(writers[1]!).putContent(p.oid, 3, next, meta(20)))
    const latest = await reader.getContent(p.oid)
    expect(latest.ok && latest.version === 3 && same(latest.content_bytes, next)).toBe(true)
  })

  it('a read of the latest steps back over several split versions to the highest decided one', async () => {
    const p = findObject(h.nodeIds, 'split-run', () => true, 2)
    const writers = h.nodeIds.slice(0, 3)
    const first = bytesOf('split-run-1', 3000)
    expectOk(await h.engine(writers[0]!).putContent(p.oid, 1, first, meta(1)))
    for (const version of [2, 3, 4]) {
      undo.push(
        orderDecides(
          h.net.transport,
          { oid: p.oid, version, homes: p.homes },
          p.homes.map((home, i) => ({ tick: 10 * version + i, homes: [home] })),
        ),
      )
      const results = await Promise.all(
        writers.map((w, i) =>
          h
            .engine(w)
            .putContent(p.oid, version, bytesOf(`run-${version}-${w}`, 2000), meta(10 * version + i)),
        ),
      )
      for (const u of undo.splice(0).reverse()) u()
      for (const r of results) expect(r).toMatchObject({ ok: false, code: 'VERSION_CONFLICT' })
    }
    const latest = await engineOn(h, h.nodeIds[4]!).getContent(p.oid)
    expect(latest.ok && latest.version === 1 && same(latest.content_bytes, first)).toBe(true)
  })
})

describe('roll-forward', () => {
  it('catches up a home that missed earlier versions before committing its staged shard', async () => {
    const p = findObject(h.nodeIds, 'roll-home', (o) => o.replicas.some((r) => r.includes(o.homes[2]!)), 2)
    const [, , h3] = p.homes as [string, string, string]
    const writer = h.nodeIds.find((n) => !p.homes.includes(n))!
    await h.setDown(h3, true)
    expectOk(await h.engine(writer).putContent(p.oid, 1, bytesOf('roll-home-1', 3000), meta(1)))
    await h.setDown(h3, false)
    // Version 2: the coordinator reaches two homes and stops; h3 staged its shards but got no record.
    undo.push(
      wrapAll(h.net.transport, 'commitVersion', async (original, node, ...rest) => {
        if (node === h3 || !p.homes.includes(node)) throw new NodeUnavailableError('coordinator stopped')
        return original(node, ...rest)
      }),
    )
    expect((await h.engine(writer).putContent(p.oid, 2, bytesOf('roll-home-2', 5000), meta(2))).ok).toBe(
      false,
    )
    for (const u of undo.splice(0).reverse()) u()
    expect(await recordAt(h, h3, p.oid, 1)).toBeUndefined()
    const stale = (await h.net.node(h3).store.staleStaged(0)).filter((s) => s.objectId === p.oid)
    expect(stale.length).toBeGreaterThan(0)
    expect(await h.net.engine(h3).rollForwardStaged(stale)).toEqual({
      committed: stale.map((s) => s.stagingId).sort(),
      unneeded: [],
      undecided: [],
    })
    expect(await recordAt(h, h3, p.oid, 1)).toBeDefined()
    expect(await recordAt(h, h3, p.oid, 2)).toBeDefined()
  })

  it('leaves a very slow coordinator’s commit NOT_FOUND once a holder rolled forward, and counts that holder missing though it holds the shard', async () => {
    const writer = h.nodeIds[0]!
    const p = findObject(h.nodeIds, 'slow-commit', (o) =>
      o.replicas.some((r) => r.some((n) => n !== writer && !o.homes.includes(n))),
    )
    const holder = p.replicas.flat().find((n) => n !== writer && !p.homes.includes(n))!
    const reached = gate()
    const release = gate()
    const outcome: unknown[] = []
    let slow = true
    undo.push(
      wrapAll(h.net.transport, 'commitVersion', async (original, node, ...rest) => {
        // Only the coordinator's commit is slow; the holder's own roll-forward commit goes through.
        if (node !== holder || !slow) return original(node, ...rest)
        slow = false
        reached.open()
        await release.opened
        try {
          return await original(node, ...rest)
        } catch (err) {
          outcome.push(err)
          throw err
        }
      }),
    )
    const put = h.engine(writer).putContent(p.oid, 1, bytesOf('slow-commit', 5000), meta(1))
    await reached.opened
    const stale = (await h.net.node(holder).store.staleStaged(0)).filter((s) => s.objectId === p.oid)
    const rolled = await h.net.engine(holder).rollForwardStaged(stale)
    expect(rolled.committed.length).toBeGreaterThan(0)
    release.open()
    const r = await put
    expectOk(r)
    expect(outcome).toMatchObject([{ code: 'NOT_FOUND' }])
    const held = r.shard_ids.filter((id) => r.replica_sets[id]!.includes(holder))
    for (const id of held) {
      expect(r.under_replicated[id]).toContain(holder)
      expect(await h.net.node(holder).store.getManifest(id)).toBeDefined()
    }
  })
})
