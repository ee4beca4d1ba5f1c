import { afterEach, describe, expect, it } from 'vitest'
import { EligibleSet } from '../../src/core/placement.js'
import { placementProblem } from '../../src/engine/record-placement.js'
import { StaticMembership } from '../../src/membership/static.js'
import { engineOn, expectOk, findObject, type Harness } from './consistency-claims-helpers.js'
import { forgeRecord } from './forged-record.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

// Records reach a node from any eligible peer. One whose homes or replicas were made up must be kept
// by no node and counted by no listing: else a peer chooses who keeps and votes for a version.

let h: Harness | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
})

/** Nodes of the network that are neither homes nor holders of the object. */
function strangers(nodeIds: readonly string[], o: { homes: string[]; replicas: string[][] }): string[] {
  return nodeIds.filter((n) => !o.homes.includes(n) && !o.replicas.some((r) => r.includes(n)))
}

/**
 * A decided version 1 on a 7-node network, and a made-up record of it that names two nodes which
 * are neither its homes nor its holders as homes (with one real home, for the majority).
 */
async function decidedThenForgedHomes(label: string) {
  h = await inProcessHarness(7)
  const p = findObject(h.nodeIds, label, (o) => strangers(h!.nodeIds, o).length >= 2)
  expectOk(await h.engine(p.homes[0]!).putContent(p.oid, 1, bytesOf('real', 3000), meta(1)))
  const outsiders = strangers(h.nodeIds, p).slice(0, 2)
  const forged = forgeRecord({
    oid: p.oid,
    version: 1,
    content: bytesOf('fake', 3000),
    replicas: p.replicas,
    homes: [outsiders[0]!, outsiders[1]!, p.homes[0]!],
  })
  return { net: h, p, outsiders, forged }
}

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string }).code
}

describe('records are kept only as their epoch places them', () => {
  it('refuses a record naming other homes, at the nodes it names, and lists the decided version once', async () => {
    const { net, p, outsiders, forged } = await decidedThenForgedHomes('forged-homes')
    for (const n of outsiders) {
      const refused = await net.net.transport.commitVersion(n, { record: forged.record, staged: [] }).then(
        () => undefined,
        (err: unknown) => err,
      )
      expect(codeOf(refused)).toBe('INVALID_INPUT')
      expect((refused as Error).message).toMatch(/catalogue_homes/)
      expect(await net.net.node(n).store.getRecord(p.oid, 1)).toBeUndefined()
    }
    const listed = await engineOn(net, net.nodeIds[0]!).listObjects({ prefix: p.oid })
    expectOk(listed)
    expect(listed.objects.filter((o) => o.version === 1)).toHaveLength(1)
  })

  it('refuses a record whose replicas are not the placement of a shard, even at a real home', async () => {
    h = await inProcessHarness(7)
    const p = findObject(h.nodeIds, 'forged-replicas', (o) => strangers(h!.nodeIds, o).length >= 1)
    const stranger = strangers(h.nodeIds, p)[0]!
    const replicas = p.replicas.map((r, i) => (i === 2 ? [stranger, ...r.slice(1)] : r))
    const forged = forgeRecord({
      oid: p.oid,
      version: 1,
      content: bytesOf('fake', 3000),
      replicas,
      homes: p.homes,
    })
    const refused = await h.net.transport
      .commitVersion(p.homes[0]!, { record: forged.record, staged: [] })
      .then(
        () => undefined,
        (err: unknown) => err,
      )
    expect(codeOf(refused)).toBe('INVALID_INPUT')
    expect((refused as Error).message).toMatch(/shard 2: replicas/)
    // The version stays free: the honest write goes through.
    expectOk(await h.engine(p.homes[1]!).putContent(p.oid, 1, bytesOf('real', 3000), meta(1)))
  })

  it('refuses a record of an epoch the node has no snapshot for', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'unknown-epoch', () => true)
    const forged = forgeRecord({
      oid: p.oid,
      version: 1,
      content: bytesOf('x', 10),
      replicas: p.replicas,
      homes: p.homes,
    })
    const refused = await h.net.transport
      .commitVersion(p.homes[0]!, { record: { ...forged.record, epoch: 7 }, staged: [] })
      .then(
        () => undefined,
        (err: unknown) => err,
      )
    expect(codeOf(refused)).toBe('AEGIS_CONTEXT_MISSING')
  })

  it('gives no listing vote to a record a store kept with made-up homes (kept before this check)', async () => {
    const { net, p, outsiders, forged } = await decidedThenForgedHomes('stored-forgery')
    // Straight into the stores, past the node service: what a node upgraded from an older version may hold.
    for (const n of outsiders) {
      const store = net.net.node(n).store
      await store.writeLock.run(async () =>
        store.commit(await store.prepareCommit(forged.record, { home: true, shards: [] })),
      )
    }
    const listed = await engineOn(net, net.nodeIds[0]!).listObjects({ prefix: p.oid })
    expectOk(listed)
    const v1 = listed.objects.filter((o) => o.version === 1)
    expect(v1).toHaveLength(1)
    expect(v1[0]!.hash_commit).not.toBe(forged.record.hash_commit)
  })
})

describe('placementProblem', () => {
  it('accepts exactly the lists placement gives, in its order', () => {
    const nodes = ['a1', 'b2', 'c3', 'd4', 'e5']
    const membership = new StaticMembership({ nodes })
    const eligible = new EligibleSet(nodes)
    const oid = 'c'.repeat(64)
    const forged = forgeRecord({
      oid,
      version: 1,
      content: bytesOf('y', 700_000),
      replicas: [0, 1, 2, 3].map(() => []),
      homes: [],
    })
    const placed = {
      ...forged.record,
      catalogue_homes: eligible.catalogueHomes(oid, 3),
      shards: forged.record.shards.map((s) => ({ ...s, replicas: eligible.place(s.shard_id, 3).selected })),
    }
    expect(placementProblem(placed, membership)).toBeUndefined()
    const reversed = { ...placed, catalogue_homes: [...placed.catalogue_homes].reverse() }
    expect(placementProblem(reversed, membership)?.reason).toMatch(/catalogue_homes/)
    const short = {
      ...placed,
      shards: placed.shards.map((s, i) => (i === 1 ? { ...s, replicas: s.replicas.slice(0, 2) } : s)),
    }
    expect(placementProblem(short, membership)?.reason).toMatch(/shard 1/)
  })
})
