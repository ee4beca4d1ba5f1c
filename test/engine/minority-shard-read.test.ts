import { describe, expect, it } from 'vitest'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import type { CommitRequest } from '../../src/engine/transport.js'
import {
  engineOn,
  findObject,
  type Harness,
  networkPerTest,
  orderDecides,
  wrapAll,
} from './consistency-claims-helpers.js'
import { bytesOf, meta } from './suite.js'

/**
 * Found by the chaos test's wide profile (test/engine/chaos-cases/wide-41-21.json): a decided
 * version whose shards are not committed yet, one of whose holders is a home that took a racing
 * loser's record first (and so committed the loser's shard under the same shard id). docs/consistency.md
 * says such a version "reads as SHARD_UNAVAILABLE until the roll-forward, a retry or repair commits
 * the shards". The read answered INTEGRITY_MISMATCH, the loser's committed copy counting as bytes that
 * do not verify (src/engine/read.ts); a copy the node's own record names is now told from damage
 * (src/engine/other-record.ts).
 */

let h: Harness
const undo: Array<() => void> = []
networkPerTest((net) => {
  h = net
}, undo)

describe('a decided version not yet committed, beside a loser’s copy at a home', () => {
  it('reads SHARD_UNAVAILABLE, as docs/consistency.md states (INTEGRITY_MISMATCH before the fix)', async () => {
    // A shard held by the home that takes the loser's record and by the two nodes that are no home.
    const p = findObject(h.nodeIds, 'minority-shard', (o) => {
      const others = h.nodeIds.filter((n) => !o.homes.includes(n))
      return o.replicas.some((r) => r.includes(o.homes[0]!) && others.every((n) => r.includes(n)))
    })
    const [h1, h2, h3] = p.homes as [string, string, string]
    const [cx, cy] = h.nodeIds.filter((n) => !p.homes.includes(n)) as [string, string]
    undo.push(
      orderDecides(h.net.transport, { oid: p.oid, version: 1, homes: p.homes }, [
        { tick: 11, homes: [h1] },
        { tick: 12, homes: [h2, h3] },
      ]),
    )
    // The winner's commit never reaches the holders that are no home (its coordinator stops there).
    undo.push(
      wrapAll(h.net.transport, 'commitVersion', (original, node, ...rest) => {
        const { record } = rest[0] as CommitRequest
        if (record.object_id === p.oid && record.timestamp_tick === 12 && (node === cx || node === cy))
          throw new NodeUnavailableError(`commit to ${node} lost`)
        return original(node, ...rest)
      }),
    )
    const [x, y] = await Promise.all([
      h.engine(cx).putContent(p.oid, 1, bytesOf('minority-x', 5000), meta(11)),
      h.engine(cy).putContent(p.oid, 1, bytesOf('minority-y', 5000), meta(12)),
    ])
    for (const u of undo.splice(0).reverse()) u()
    expect(x).toMatchObject({ ok: false, code: 'VERSION_CONFLICT' })
    expect(y).toMatchObject({ ok: false, code: 'QUORUM_NOT_REACHED' })
    expect((await h.net.node(h2).service.getRecord(p.oid, 1))?.timestamp_tick).toBe(12)
    expect((await h.net.node(h1).service.getRecord(p.oid, 1))?.timestamp_tick).toBe(11)
    const got = await engineOn(h, h2).getContent(p.oid, 1)
    expect(got).toMatchObject({ ok: false, code: 'SHARD_UNAVAILABLE' })
  })
})
