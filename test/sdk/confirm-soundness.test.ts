import { describe, expect, it } from 'vitest'
import { confirmVersion } from '../../src/sdk/confirm.js'
import {
  expectOk,
  findObject,
  type Harness,
  networkPerTest,
  orderDecides,
  recordAt,
} from '../engine/consistency-claims-helpers.js'
import { bytesOf, meta } from '../engine/suite.js'

/**
 * An honest network confirms what a read through an honest node returns, in the states
 * docs/consistency.md describes: a version decided over a racing writer's minority record, one a
 * home missed, older versions and a delete marker, a home down while the nodes are asked. The
 * oracle is the read (or the write's answer) itself, through another node than those asked.
 */

let h: Harness
const undo: Array<() => void> = []
networkPerTest((net) => {
  h = net
}, undo)

const everyone = () => h.nodeIds.map((n) => h.engine(n))

describe('confirmVersion: an honest network confirms what an honest read returns', () => {
  it('the winner of racing writers, with the loser’s record kept at one home: the winner is confirmed by every node, the loser by none', async () => {
    const p = findObject(h.nodeIds, 'confirm-race', () => true)
    const [h1, h2, h3] = p.homes as [string, string, string]
    const [cx, cy] = h.nodeIds.filter((n) => !p.homes.includes(n)) as [string, string]
    undo.push(
      orderDecides(h.net.transport, { oid: p.oid, version: 1, homes: p.homes }, [
        { tick: 11, homes: [h1] },
        { tick: 12, homes: [h2, h3] },
      ]),
    )
    const [x, y] = await Promise.all([
      h.engine(cx).putContent(p.oid, 1, bytesOf('race-x', 3000), meta(11)),
      h.engine(cy).putContent(p.oid, 1, bytesOf('race-y', 3000), meta(12)),
    ])
    for (const u of undo.splice(0).reverse()) u()
    expect(x).toMatchObject({ ok: false, code: 'VERSION_CONFLICT' })
    expectOk(y)
    const loser = await recordAt(h, h1, p.oid, 1)
    expect(loser?.timestamp_tick).toBe(11)
    const read = await h.engine(h1).getContent(p.oid, 1)
    expectOk(read)
    expect(read.hash_commit).toBe(y.hash_commit)
    expect(await confirmVersion(everyone(), read)).toMatchObject({ ok: true, confirmed: true, agreeing: 5 })
    const forLoser = await confirmVersion(everyone(), { ...read, hash_commit: loser!.hash_commit })
    expect(forLoser).toMatchObject({ ok: true, confirmed: false, agreeing: 0 })
  })

  it('a version one home missed (down during the write, not yet caught up) is confirmed by every node', async () => {
    const p = findObject(h.nodeIds, 'confirm-lag', () => true)
    const lagging = p.homes[0]!
    const writer = h.nodeIds.find((n) => !p.homes.includes(n))!
    expectOk(await h.engine(writer).putContent(p.oid, 1, bytesOf('lag-1', 2000), meta(1)))
    await h.setDown(lagging, true)
    const put = await h.engine(writer).putContent(p.oid, 2, bytesOf('lag-2', 2000), meta(2))
    await h.setDown(lagging, false)
    expectOk(put)
    // The oracle that the home lags: it keeps version 1 only.
    expect(await recordAt(h, lagging, p.oid, 2)).toBeUndefined()
    const answer = await confirmVersion(everyone(), put)
    expect(answer).toMatchObject({ ok: true, confirmed: true, agreeing: 5 })
  })

  it('older versions and a delete marker stay confirmed once the object moved on', async () => {
    const p = findObject(h.nodeIds, 'confirm-history', () => true)
    const writer = h.engine(h.nodeIds[0]!)
    const v1 = await writer.putContent(p.oid, 1, bytesOf('hist-1', 1500), meta(1))
    const v2 = await writer.putContent(p.oid, 2, bytesOf('hist-2', 1500), meta(2))
    const v3 = await writer.deleteContent(p.oid, 3, meta(3))
    const v4 = await writer.putContent(p.oid, 4, bytesOf('hist-4', 1500), meta(4))
    expectOk(v1)
    expectOk(v2)
    expectOk(v3)
    expectOk(v4)
    const reader = h.engine(h.nodeIds[1]!)
    const asked = h.nodeIds.slice(2).map((n) => h.engine(n))
    for (const [version, written] of [
      [1, v1],
      [2, v2],
      [4, v4],
    ] as const) {
      const read = await reader.getContent(p.oid, version)
      expectOk(read)
      expect(read.hash_commit).toBe(written.hash_commit)
      expect(await confirmVersion(asked, read)).toMatchObject({ ok: true, confirmed: true, agreeing: 3 })
    }
    // The marker is listed like any version, with its kind: what a read of it by number verified.
    expect(await confirmVersion(asked, v3)).toMatchObject({ ok: true, confirmed: true, agreeing: 3 })
  })

  it('a home down while the nodes are asked: the other two homes still confirm through every node up', async () => {
    const p = findObject(h.nodeIds, 'confirm-down', () => true)
    const down = p.homes[2]!
    const put = await h
      .engine(h.nodeIds.find((n) => n !== down)!)
      .putContent(p.oid, 1, bytesOf('down', 2000), meta(1))
    expectOk(put)
    await h.setDown(down, true)
    const up = h.nodeIds.filter((n) => n !== down).map((n) => h.engine(n))
    expect(await confirmVersion(up, put)).toMatchObject({ ok: true, confirmed: true, agreeing: 4 })
  })
})
