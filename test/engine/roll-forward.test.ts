import { afterEach, describe, expect, it } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { EligibleSet } from '../../src/core/placement.js'
import type { StorageEngine } from '../../src/engine/engine.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import { InProcessTransport } from '../../src/engine/in-process.js'
import type { CommitRequest } from '../../src/engine/transport.js'
import { Libp2pTransport } from '../../src/net/transport.js'
import type { ShardStore } from '../../src/store/index.js'
import { libp2pHarness } from '../net/harness.js'
import { forgeRecord } from './forged-record.js'
import { type EngineHarness, inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

type Net = EngineHarness & { store(nodeId: string): ShardStore; transport: { prototype: object } }

const harnesses: Array<[string, () => Promise<Net>]> = [
  [
    'in-process',
    async () => {
      const h = await inProcessHarness(5)
      return { ...h, store: (id) => h.net.node(id).store, transport: InProcessTransport }
    },
  ],
  [
    'libp2p',
    async () => {
      const h = await libp2pHarness(5)
      return { ...h, store: (id) => h.locals.get(id)!.store, transport: Libp2pTransport }
    },
  ],
]

/**
 * Makes every coordinator stop right after the decide: homes take the record, but no commit reaches a
 * holder that is not a home (as when the coordinator's process dies between the two steps).
 */
function coordinatorsDieAfterDecide(transport: { prototype: object }): () => void {
  const proto = transport.prototype as {
    commitVersion: (node: string, req: CommitRequest, o?: unknown) => Promise<unknown>
  }
  const original = proto.commitVersion
  proto.commitVersion = function (this: unknown, node, req, options) {
    if (!req.record.catalogue_homes.includes(node)) {
      return Promise.reject(new NodeUnavailableError('coordinator stopped before this commit'))
    }
    return original.call(this, node, req, options)
  }
  return () => {
    proto.commitVersion = original
  }
}

const engineOf = (h: Net, id: string) => h.engine(id) as StorageEngine

describe.each(harnesses)(
  'roll-forward of writes whose coordinator stopped after the decide (%s)',
  (_name, make) => {
    let restore: (() => void) | undefined
    afterEach(() => {
      restore?.()
      restore = undefined
    })

    it('commits the staged shards the decided record needs, so every replica holds them and the version reads back', async () => {
      const h = await make()
      try {
        restore = coordinatorsDieAfterDecide(h.transport)
        const objects = [
          { oid: objectId('roll', 'small'), content: bytesOf('roll-small', 4096) },
          { oid: objectId('roll', 'large'), content: bytesOf('roll-large', 600_000) },
        ]
        for (const o of objects) await engineOf(h, h.nodeIds[0]!).putContent(o.oid, 1, o.content, meta(7))
        restore()
        restore = undefined

        // The homes decided each version (a majority holds its record) though no holder outside them committed.
        const records = await Promise.all(
          objects.map(async (o) => {
            const homes = new EligibleSet(h.nodeIds).catalogueHomes(o.oid, 3)
            const held = await Promise.all(homes.map((id) => h.store(id).getRecord(o.oid, 1)))
            expect(held.filter((e) => e !== undefined).length).toBeGreaterThanOrEqual(2)
            return held.find((e) => e !== undefined)!.record
          }),
        )
        let left = 0
        for (const id of h.nodeIds) {
          const stale = await h.store(id).staleStaged(0)
          left += stale.length
          const r = await engineOf(h, id).rollForwardStaged(stale)
          expect(r).toEqual({ committed: stale.map((s) => s.stagingId).sort(), unneeded: [], undecided: [] })
          expect(await h.store(id).staleStaged(0)).toEqual([])
        }
        // The failure injected above must have left something to roll forward, or this proves nothing.
        expect(left).toBeGreaterThan(0)
        for (const [i, o] of objects.entries()) {
          for (const shard of records[i]!.shards) {
            for (const replica of shard.replicas) {
              expect(await h.store(replica).getManifest(shard.shard_id)).toMatchObject({
                merkleRoot: shard.merkle_root,
              })
            }
          }
          const got = await engineOf(h, h.nodeIds[3]!).getContent(o.oid, 1)
          expect(got.ok).toBe(true)
          if (got.ok) expect(Buffer.from(got.content_bytes).equals(Buffer.from(o.content))).toBe(true)
        }
      } finally {
        await h.close()
      }
    }, 60_000)

    it('commits one staging per shard when the same write was sent twice (a retry after an unknown outcome)', async () => {
      const h = await make()
      try {
        restore = coordinatorsDieAfterDecide(h.transport)
        const oid = objectId('roll', 'twice')
        const content = bytesOf('roll-twice', 4096)
        await engineOf(h, h.nodeIds[0]!).putContent(oid, 1, content, meta(7))
        await engineOf(h, h.nodeIds[1]!).putContent(oid, 1, content, meta(7))
        restore()
        restore = undefined
        let doubled = 0
        for (const id of h.nodeIds) {
          const stale = await h.store(id).staleStaged(0)
          if (new Set(stale.map((s) => s.shardId)).size < stale.length) doubled++
          const r = await engineOf(h, id).rollForwardStaged(stale)
          expect(r.undecided).toEqual([])
          // Each shard once committed; its other copies are unneeded, for the sweep to remove.
          expect(r.committed.length).toBe(new Set(stale.map((s) => s.shardId)).size)
          expect(r.committed.length + r.unneeded.length).toBe(stale.length)
        }
        expect(doubled).toBeGreaterThan(0)
        const got = await engineOf(h, h.nodeIds[4]!).getContent(oid, 1)
        expect(got.ok).toBe(true)
      } finally {
        await h.close()
      }
    }, 60_000)

    it('calls a staged shard of a version nobody decided unneeded, and keeps it undecided while homes are away', async () => {
      const h = await make()
      try {
        const oid = objectId('roll', 'never-decided')
        // Homes refuse every commit: the version is staged everywhere and decided nowhere.
        const proto = h.transport.prototype as { commitVersion: (...a: unknown[]) => Promise<unknown> }
        const original = proto.commitVersion
        proto.commitVersion = () =>
          Promise.reject(new NodeUnavailableError('coordinator stopped before the decide'))
        restore = () => {
          proto.commitVersion = original
        }
        const put = await engineOf(h, h.nodeIds[0]!).putContent(oid, 1, bytesOf('never', 4096), meta(1))
        expect(put.ok).toBe(false)
        restore()
        restore = undefined
        // No home's answer came, so the record may be decided: the coordinator leaves what it staged
        // to the sweep (docs/consistency.md), as one that died before its abort would have.
        const left = await Promise.all(
          h.nodeIds.map(async (id) => ({
            id,
            stale: (await h.store(id).staleStaged(0)).filter((s) => s.objectId === oid),
          })),
        )
        const { id: holder, stale } = left.find((l) => l.stale.length > 0)!
        const ids = stale.map((s) => s.stagingId)
        for (const id of h.nodeIds) expect(await h.store(id).getRecord(oid, 1)).toBeUndefined()
        // Every other node away: too few homes answer to tell.
        const homes = h.nodeIds.filter((id) => id !== holder)
        for (const id of homes) await h.setDown(id, true)
        expect(await engineOf(h, holder).rollForwardStaged(stale)).toEqual({
          committed: [],
          unneeded: [],
          undecided: ids,
        })
        for (const id of homes) await h.setDown(id, false)
        expect(await engineOf(h, holder).rollForwardStaged(stale)).toEqual({
          committed: [],
          unneeded: ids,
          undecided: [],
        })
      } finally {
        await h.close()
      }
    }, 60_000)
  },
)

describe('roll-forward of a staged shard the decided record does not name', () => {
  it('reports one whose root differs as unneeded, for the sweep, never as waiting for a decision', async () => {
    const h = await inProcessHarness(5)
    try {
      const oid = objectId('roll', 'other-bytes')
      const homes = new EligibleSet(h.nodeIds).catalogueHomes(oid, 3)
      const replicas = [0, 1, 2, 3].map(
        (k) => new EligibleSet(h.nodeIds).place(shardId(oid, 1, k), 3).selected,
      )
      expect((await h.engine(h.nodeIds[0]!).putContent(oid, 1, bytesOf('decided', 3000), meta(1))).ok).toBe(
        true,
      )
      // Bytes of the same size but other content, staged for shard 0 at one of its replicas.
      const other = forgeRecord({ oid, version: 1, content: bytesOf('not-decided', 3000), replicas, homes })
      const node = replicas[0]![0]!
      await h.net.transport.stageShards(node, [other.shards[0]!])
      const stale = (await h.net.node(node).store.staleStaged(0)).filter((s) => s.objectId === oid)
      expect(stale).toHaveLength(1)
      const rolled = await h.net.engine(node).rollForwardStaged(stale)
      expect(rolled).toEqual({ committed: [], unneeded: [stale[0]!.stagingId], undecided: [] })
      // The decided bytes, staged at a node the record does not place shard 0 on: as unneeded.
      const same = forgeRecord({ oid, version: 1, content: bytesOf('decided', 3000), replicas, homes })
      const elsewhere = h.nodeIds.find((n) => !replicas[0]!.includes(n))!
      await h.net.transport.stageShards(elsewhere, [same.shards[0]!])
      const misplaced = (await h.net.node(elsewhere).store.staleStaged(0)).filter((s) => s.objectId === oid)
      expect(misplaced).toHaveLength(1)
      expect(await h.net.engine(elsewhere).rollForwardStaged(misplaced)).toEqual({
        committed: [],
        unneeded: [misplaced[0]!.stagingId],
        undecided: [],
      })
    } finally {
      await h.close()
    }
  })
})
