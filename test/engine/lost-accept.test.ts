import { describe, expect, it } from 'vitest'
import { NodeUnavailableError } from '../../src/engine/errors.js'
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
 * Found by the chaos test (chaos-consistency.test.ts, seed 1, case 70): a home takes the record but
 * its answer is lost, another home is down. The coordinator counts one acceptance of three, answers
 * QUORUM_NOT_REACHED and takes back every staging outside the homes that answered (docs/consistency.md:
 * "If the decide step does not reach q homes, the coordinator discards every staged shard"), yet
 * two homes hold the record: the version is decided, and a shard held by no home that took it is
 * left nowhere, so the roll-forward has nothing to commit. What the docs promise in that state is
 * the client's identical retry ("the same write again is idempotent at the homes and commits the
 * missing replicas"), pinned here.
 */

let h: Harness
const undo: Array<() => void> = []
networkPerTest((net) => {
  h = net
}, undo)

describe('a decide whose acceptance was lost on the way back', () => {
  it('leaves the version decided but unreadable until the identical write is sent again, which completes it', async () => {
    // A shard placed on the down home and the two nodes that are no home: no home that takes the
    // record holds it.
    const p = findObject(h.nodeIds, 'lost-accept', (o) =>
      o.replicas.some((r) => r.includes(o.homes[0]!) && !r.includes(o.homes[1]!) && !r.includes(o.homes[2]!)),
    )
    const [away, silent, taker] = p.homes as [string, string, string]
    const writer = h.nodeIds.find((n) => !p.homes.includes(n))!
    await h.setDown(away, true)
    const lose = wrapAll(h.net.transport, 'commitVersion', async (original, node, ...rest) => {
      const answer = await original(node, ...rest)
      if (node === silent) throw new NodeUnavailableError(`answer of ${node} lost`)
      return answer
    })
    undo.push(lose)
    const content = bytesOf('lost-accept', 2500)
    const first = await engineOn(h, writer).putContent(p.oid, 1, content, meta(1))
    expect(first).toMatchObject({ ok: false, code: 'QUORUM_NOT_REACHED' })
    lose()
    undo.pop()
    await h.setDown(away, false)
    // Decided: two of the three homes hold the record.
    expect(await recordAt(h, silent, p.oid, 1)).toBeDefined()
    expect(await recordAt(h, taker, p.oid, 1)).toBeDefined()
    // The staging a roll-forward would need is gone everywhere: the read finds no replica.
    for (const n of h.nodeIds) expect(await stagedOn(h, n, p.oid)).toBe(0)
    expect(await engineOn(h, writer).getContent(p.oid, 1)).toMatchObject({
      ok: false,
      code: 'SHARD_UNAVAILABLE',
    })
    // The identical write completes it, and every node reads it.
    const again = await engineOn(h, writer).putContent(p.oid, 1, content, meta(1))
    expectOk(again)
    for (const n of h.nodeIds) {
      const got = await engineOn(h, n).getContent(p.oid, 1)
      expect(got.ok && same(got.content_bytes, content)).toBe(true)
    }
  })
})
