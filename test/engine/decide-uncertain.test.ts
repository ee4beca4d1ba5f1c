import { describe, expect, it } from 'vitest'
import { NodeUnavailableError, ObjectNotFoundError } from '../../src/engine/errors.js'
import { VersionConflictError } from '../../src/store/errors.js'
import {
  engineOn,
  expectOk,
  findObject,
  type Harness,
  networkPerTest,
  recordAt,
  same,
  stagedOn,
  wrapAll,
} from './consistency-claims-helpers.js'
import { bytesOf, meta } from './suite.js'

/**
 * A decide short of a majority whose missing answers may still have been acceptances
 * (docs/consistency.md, step 2): the record may be decided, so the write answers
 * QUORUM_NOT_REACHED, never a refusal, and its stagings stay for the staging sweep, whose
 * roll-forward commits them once the homes show the record decided. Taking them back at once (as
 * before) left such a version decided with a shard on no node until its client sent it again (found
 * by the in-process chaos test), and answering a home's refusal told a writer "nothing written" of a
 * version that became readable with its content (found by the multi-process crash test).
 */

let h: Harness
const undo: Array<() => void> = []
networkPerTest((net) => {
  h = net
}, undo)

/** One sweep of every node, as the daemon's staging sweeper does it: roll forward, remove what is unneeded. */
async function sweepAll(oid: string): Promise<{ committed: number; unneeded: number; undecided: number }> {
  const total = { committed: 0, unneeded: 0, undecided: 0 }
  for (const n of h.nodeIds) {
    const stale = (await h.net.node(n).store.staleStaged(0)).filter((s) => s.objectId === oid)
    const r = await h.net.engine(n).rollForwardStaged(stale)
    await h.net.node(n).store.sweepStaging({ olderThanMs: 0, removeStaged: new Set(r.unneeded) })
    total.committed += r.committed.length
    total.unneeded += r.unneeded.length
    total.undecided += r.undecided.length
  }
  return total
}

/** A shard placed on `on` and on nodes that are no home: only `on` among the homes could commit it. */
const outsideHomesBut = (label: string, on: number) =>
  findObject(h.nodeIds, label, (o) =>
    o.replicas.some((r) => r.includes(o.homes[on]!) && r.filter((n) => o.homes.includes(n)).length === 1),
  )

describe('a decide whose missing answers may have been acceptances', () => {
  it('a home takes the record but its answer is lost, another is down: QUORUM_NOT_REACHED, and the sweep makes the version readable', async () => {
    const p = outsideHomesBut('uncertain-lost', 0)
    const [away, silent, taker] = p.homes as [string, string, string]
    const writer = h.nodeIds.find((n) => !p.homes.includes(n))!
    await h.setDown(away, true)
    undo.push(
      wrapAll(h.net.transport, 'commitVersion', async (original, node, ...rest) => {
        const answer = await original(node, ...rest)
        if (node === silent) throw new NodeUnavailableError(`the answer of ${node} is lost`)
        return answer
      }),
    )
    const content = bytesOf('uncertain-lost', 2500)
    const put = await engineOn(h, writer).putContent(p.oid, 1, content, meta(1))
    expect(put).toMatchObject({
      ok: false,
      code: 'QUORUM_NOT_REACHED',
      error_code: 'SE_ERR_NO_ELIGIBLE_NODES',
    })
    for (const u of undo.splice(0).reverse()) u()
    await h.setDown(away, false)
    expect(await recordAt(h, silent, p.oid, 1)).toBeDefined()
    expect(await recordAt(h, taker, p.oid, 1)).toBeDefined()
    // The shard only the away home could have committed is still staged outside the homes.
    let staged = 0
    for (const n of h.nodeIds.filter((id) => !p.homes.includes(id))) staged += await stagedOn(h, n, p.oid)
    expect(staged).toBeGreaterThan(0)
    const swept = await sweepAll(p.oid)
    expect(swept.committed).toBeGreaterThan(0)
    expect(swept.undecided).toBe(0)
    // No client sent anything again.
    for (const n of h.nodeIds) {
      const got = await engineOn(h, n).getContent(p.oid, 1)
      expect(got.ok && same(got.content_bytes, content)).toBe(true)
    }
  })

  it('one home refuses, one takes the record and its answer is lost: QUORUM_NOT_REACHED, not VERSION_CONFLICT, and the content is readable after the sweep', async () => {
    const p = outsideHomesBut('uncertain-refused', 2)
    const [taker, refuser, silent] = p.homes as [string, string, string]
    const writer = h.nodeIds.find((n) => !p.homes.includes(n))!
    undo.push(
      wrapAll(h.net.transport, 'commitVersion', async (original, node, ...rest) => {
        if (node === refuser)
          throw new VersionConflictError(`version 1 of ${p.oid} already holds another record`)
        const answer = await original(node, ...rest)
        if (node === silent) throw new NodeUnavailableError(`the answer of ${node} is lost`)
        return answer
      }),
    )
    const content = bytesOf('uncertain-refused', 3000)
    const put = await engineOn(h, writer).putContent(p.oid, 1, content, meta(1))
    expect(put).toMatchObject({ ok: false, code: 'QUORUM_NOT_REACHED' })
    for (const u of undo.splice(0).reverse()) u()
    expect(await recordAt(h, taker, p.oid, 1)).toBeDefined()
    expect(await recordAt(h, silent, p.oid, 1)).toBeDefined()
    await sweepAll(p.oid)
    for (const n of h.nodeIds) {
      const got = await engineOn(h, n).getContent(p.oid, 1)
      expect(got.ok && same(got.content_bytes, content)).toBe(true)
    }
  })

  it('a majority of verdicts is definite: VERSION_CONFLICT, and the stagings are taken back at once', async () => {
    const p = outsideHomesBut('definite-refused', 0)
    const [, r1, r2] = p.homes as [string, string, string]
    const writer = h.nodeIds.find((n) => !p.homes.includes(n))!
    undo.push(
      wrapAll(h.net.transport, 'commitVersion', async (original, node, ...rest) => {
        if (node === r1 || node === r2)
          throw new VersionConflictError('version 1 already holds another record')
        return original(node, ...rest)
      }),
    )
    const put = await engineOn(h, writer).putContent(p.oid, 1, bytesOf('definite', 3000), meta(1))
    expect(put).toMatchObject({ ok: false, code: 'VERSION_CONFLICT', error_code: 'SE_ERR_INVALID_VERSION' })
    for (const u of undo.splice(0).reverse()) u()
    for (const n of h.nodeIds.filter((id) => !p.homes.includes(id)))
      expect(await stagedOn(h, n, p.oid)).toBe(0)
  })

  it('homes refusing for a reason a writer cannot act on (their staging swept: NOT_FOUND) give QUORUM_NOT_REACHED, not NOT_FOUND', async () => {
    const p = outsideHomesBut('swept-staging', 0)
    const [, r1, r2] = p.homes as [string, string, string]
    const writer = h.nodeIds.find((n) => !p.homes.includes(n))!
    undo.push(
      wrapAll(h.net.transport, 'commitVersion', async (original, node, ...rest) => {
        if (node === r1 || node === r2) throw new ObjectNotFoundError('staging 1f2e is not held')
        return original(node, ...rest)
      }),
    )
    const put = await engineOn(h, writer).putContent(p.oid, 1, bytesOf('swept', 3000), meta(1))
    expect(put).toMatchObject({
      ok: false,
      code: 'QUORUM_NOT_REACHED',
      error_code: 'SE_ERR_NO_ELIGIBLE_NODES',
    })
    if (!put.ok) expect(put.error_detail).toContain('NOT_FOUND x2')
    for (const u of undo.splice(0).reverse()) u()
    // Their own answers: definite, so nothing is left for the sweep.
    for (const n of h.nodeIds.filter((id) => !p.homes.includes(id)))
      expect(await stagedOn(h, n, p.oid)).toBe(0)
  })

  it('a refusal before any home is offered the record takes the stagings back at once', async () => {
    const p = outsideHomesBut('refused-before', 0)
    const writer = h.nodeIds.find((n) => !p.homes.includes(n))!
    expectOk(await engineOn(h, writer).putContent(p.oid, 1, bytesOf('first', 3000), meta(1)))
    const other = await engineOn(h, writer).putContent(p.oid, 1, bytesOf('other', 3000), meta(1))
    expect(other).toMatchObject({ ok: false, code: 'VERSION_CONFLICT' })
    for (const n of h.nodeIds) expect(await stagedOn(h, n, p.oid)).toBe(0)
  })
})
