import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { EligibleSet } from '../../src/core/placement.js'
import { replicaOrder } from '../../src/engine/context.js'
import { type PeerHealth, RecentFailures } from '../../src/engine/peer-health.js'
import { coordinatorEngine } from './cut-short-helpers.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

describe('RecentFailures', () => {
  it('suspects a peer that was away until the time passes or it answers; bad data is reported, not suspected', () => {
    let now = 0
    const seen: string[] = []
    const h = new RecentFailures({
      suspectMs: 100,
      now: () => now,
      onFailure: (n, c) => seen.push(`${n}:${c}`),
    })
    h.failed('a', 'TIMEOUT')
    h.failed('b', 'INTEGRITY_MISMATCH')
    h.failed('c', 'NODE_UNAVAILABLE')
    expect([h.suspect('a'), h.suspect('b'), h.suspect('c')]).toEqual([true, false, true])
    h.answered('c')
    expect(h.suspect('c')).toBe(false)
    now = 99
    expect(h.suspect('a')).toBe(true)
    now = 100
    expect(h.suspect('a')).toBe(false)
    expect(seen).toEqual(['a:TIMEOUT', 'b:INTEGRITY_MISMATCH', 'c:NODE_UNAVAILABLE'])
    // A refusal is the peer's own answer: it is there, so it is no longer suspect.
    h.failed('d', 'STREAM_ENDED')
    expect(h.suspect('d')).toBe(true)
    h.failed('d', 'VERSION_CONFLICT')
    expect(h.suspect('d')).toBe(false)
    // Our own INTERNAL says nothing of the peer either way; a closed store is away.
    h.failed('d', 'TIMEOUT')
    h.failed('d', 'INTERNAL')
    expect(h.suspect('d')).toBe(true)
    h.failed('e', 'STORE_CLOSED')
    expect(h.suspect('e')).toBe(true)
    // A peer we only stopped waiting for told us nothing: no suspicion set or ended, nothing counted.
    h.failed('e', 'CUT_SHORT')
    h.failed('f', 'CUT_SHORT')
    expect([h.suspect('e'), h.suspect('f')]).toEqual([true, false])
    expect(seen.filter((s) => s.endsWith(':CUT_SHORT'))).toEqual([])
  })

  it('lists the peers suspect now, sorted, for the operator', () => {
    let now = 0
    const h = new RecentFailures({ suspectMs: 100, now: () => now })
    h.failed('n3', 'TIMEOUT')
    h.failed('n1', 'NODE_UNAVAILABLE')
    now = 50
    h.failed('n2', 'STREAM_ENDED')
    expect(h.suspects()).toEqual(['n1', 'n2', 'n3'])
    now = 100
    expect(h.suspects()).toEqual(['n2'])
  })
})

describe('replicaOrder', () => {
  it('keeps self first, then healthy peers and then suspects, each in placement order (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom('n1', 'n2', 'n3', 'n4', 'n5'), { minLength: 1, maxLength: 5 }),
        fc.constantFrom('n1', 'n2', 'n3', 'n4', 'n5'),
        fc.subarray(['n1', 'n2', 'n3', 'n4', 'n5']),
        (replicas: string[], self: string, suspects: string[]) => {
          const health: PeerHealth = {
            failed: () => {},
            answered: () => {},
            suspect: (n) => suspects.includes(n),
          }
          const order = replicaOrder(replicas, self, health)
          expect([...order].sort()).toEqual([...replicas].sort())
          if (replicas.includes(self)) expect(order[0]).toBe(self)
          const rest = order.filter((n) => n !== self)
          const firstSuspect = rest.findIndex((n) => suspects.includes(n))
          if (firstSuspect >= 0)
            expect(rest.slice(firstSuspect).every((n) => suspects.includes(n))).toBe(true)
          const inPlacement = (xs: string[]) =>
            xs.every((n, i) => i === 0 || replicas.indexOf(xs[i - 1]!) < replicas.indexOf(n))
          expect(inPlacement(rest.filter((n) => suspects.includes(n)))).toBe(true)
          expect(inPlacement(rest.filter((n) => !suspects.includes(n)))).toBe(true)
          // Without health the order is the placement order.
          expect(replicaOrder(replicas, self).filter((n) => n !== self)).toEqual(
            replicas.filter((n) => n !== self),
          )
        },
      ),
      { seed: 0x4ea1, numRuns: 300 },
    )
  })
})

describe('reads after a replica failed', () => {
  it('ask a replica that was away last, so one absent node costs one failed attempt, not one per read', async () => {
    const h = await inProcessHarness(5)
    try {
      const eligible = new EligibleSet(h.nodeIds)
      const oid = objectId('health', 'reorder')
      const content = bytesOf('health', 3000)
      const writer = h.nodeIds[0]!
      expect((await h.engine(writer).putContent(oid, 1, content, meta(1))).ok).toBe(true)
      // A reader outside shard 0's replicas, whose first choice for it is then a peer.
      const replicas = eligible.place(shardId(oid, 1, 0), 3).selected
      const reader = h.nodeIds.find((n) => !replicas.includes(n))!
      const first = replicas[0]!
      const asked: string[][] = []
      const fetch = h.net.transport.fetchShard.bind(h.net.transport)
      h.net.transport.fetchShard = (node, ...rest) => {
        asked.at(-1)!.push(node)
        return fetch(node, ...rest)
      }
      await h.setDown(first, true)
      try {
        for (let i = 0; i < 3; i++) {
          asked.push([])
          const got = await h.engine(reader).getContent(oid, 1)
          expect(got.ok).toBe(true)
          if (got.ok) expect(Buffer.from(got.content_bytes).equals(Buffer.from(content))).toBe(true)
        }
      } finally {
        await h.setDown(first, false)
      }
      // Shard 0 lists the away node first, yet it was asked at most once (by the first read, unless
      // its failure to answer the record lookup had already made it suspect), and never again.
      expect(asked.flat().filter((n) => n === first).length).toBeLessThanOrEqual(1)
      expect(asked[1]).not.toContain(first)
      expect(asked[2]).not.toContain(first)
    } finally {
      await h.close()
    }
  })
})

describe('a suspect peer that answers', () => {
  it('is suspect no longer, whatever exchange it answered (here a listing)', async () => {
    const h = await inProcessHarness(5)
    try {
      const health = new RecentFailures()
      const peer = h.nodeIds[2]!
      health.failed(peer, 'TIMEOUT')
      expect(health.suspect(peer)).toBe(true)
      const engine = coordinatorEngine(h, h.nodeIds[0]!, health, { requestMs: 5000, streamIdleMs: 5000 })
      expect(await engine.listObjects({})).toMatchObject({ ok: true })
      expect(health.suspect(peer)).toBe(false)
    } finally {
      await h.close()
    }
  })
})

describe('large writes', () => {
  it('mark a replica that cannot take its shard stream as suspect, as small writes do', async () => {
    const h = await inProcessHarness(5)
    try {
      const eligible = new EligibleSet(h.nodeIds)
      const down = h.nodeIds[3]!
      const coordinator = h.nodeIds[0]!
      // An object the down node holds a shard of but is no catalogue home of: only the shard streams
      // (not the record lookups) can tell the coordinator it is away.
      let oid = ''
      for (let i = 0; ; i++) {
        oid = objectId('health', `stream-${i}`)
        const holds = [0, 1, 2, 3].some((k) => eligible.place(shardId(oid, 1, k), 3).selected.includes(down))
        if (holds && !eligible.catalogueHomes(oid, 3).includes(down)) break
      }
      const health = new RecentFailures()
      const engine = coordinatorEngine(h, coordinator, health, { requestMs: 5000, streamIdleMs: 5000 })
      await h.setDown(down, true)
      try {
        const put = await engine.putContent(oid, 1, bytesOf('stream', 600_000), meta(1))
        expect(put).toMatchObject({ ok: true })
        expect(
          Object.values((put as { under_replicated: Record<string, string[]> }).under_replicated).flat(),
        ).toContain(down)
        expect(health.suspect(down)).toBe(true)
        expect(h.nodeIds.filter((n) => n !== down).some((n) => health.suspect(n))).toBe(false)
      } finally {
        await h.setDown(down, false)
      }
    } finally {
      await h.close()
    }
  })
})
