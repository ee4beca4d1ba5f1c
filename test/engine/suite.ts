import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateContent } from '../../src/conformance/content.js'
import { atrCost } from '../../src/core/atr.js'
import { toHex } from '../../src/core/bytes.js'
import { hashCommit } from '../../src/core/commit.js'
import { objectId, shardId } from '../../src/core/ids.js'
import { metadataSeed, normalizeMetadata } from '../../src/core/metadata.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { EligibleSet } from '../../src/core/placement.js'
import { verifyStorageProof } from '../../src/core/proof.js'
import type { StoreSuccess } from '../../src/engine/responses.js'
import type { EngineHarness } from './harness.js'

const BLOCK = DEFAULT_PARAMS.blockSizeBytes

export function bytesOf(label: string, size: number): Uint8Array {
  return generateContent({ sha3_stream: label, length: size })
}

export function meta(tick: number, extra: Record<string, unknown> = {}) {
  return { author_node_id: 'author-1', created_at_tick: tick, ...extra }
}

function expectOk<T extends { ok: boolean }>(r: T): asserts r is Extract<T, { ok: true }> {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r)}`)
}

/** The StorageEngine contract, run against every transport (in-process and libp2p). */
export function describeEngine(name: string, makeHarness: () => Promise<EngineHarness>): void {
  describe(`StorageEngine over ${name}`, () => {
    let h: EngineHarness
    let eligible: EligibleSet
    beforeAll(async () => {
      h = await makeHarness()
      eligible = new EligibleSet(h.nodeIds)
    })
    afterAll(async () => {
      await h?.close()
    })

    const sizes = [0, 1, 1000, BLOCK, 4 * BLOCK + 1, 3 * 1024 * 1024 + 17]
    it.each(sizes)('stores and reads back %i bytes through different coordinators', async (size) => {
      const [a, b] = [h.nodeIds[0]!, h.nodeIds[h.nodeIds.length - 1]!]
      const oid = objectId('suite', `size-${size}`)
      const content = bytesOf(`size-${size}`, size)
      const m = meta(10 + size)
      const put = await h.engine(a).putContent(oid, 1, content, m)
      expectOk(put)
      // Every number in the answer follows from the core formulas alone.
      const seed = metadataSeed(normalizeMetadata(m))
      expect(put.hash_commit).toBe(toHex(hashCommit(content, 1, seed)))
      const ids = [0, 1, 2, 3].map((i) => shardId(oid, 1, i))
      expect(put.shard_ids).toEqual(ids)
      for (const id of ids) expect(put.replica_sets[id]).toEqual(eligible.place(id, 3).selected)
      expect(put.atr_cost).toBe(atrCost(size, 4, 3).toString())
      expect(put.kind).toBe('STORE')
      expect(put.under_replicated).toEqual({})
      expect(put.storage_event_id).toMatch(/^[0-9a-f]{64}$/)

      const got = await h.engine(b).getContent(oid, 1)
      expectOk(got)
      expect(got.hash_commit).toBe(put.hash_commit)
      expect(Buffer.from(got.content_bytes).equals(Buffer.from(content))).toBe(true)
      expect(got.proofs.map((p) => p.shard_id)).toEqual(ids)
    })

    it('keeps versions append-only: latest + 1, idempotent repeats, conflicts refused', async () => {
      const e = h.engine(h.nodeIds[1]!)
      const oid = objectId('suite', 'versions')
      expectOk(await e.putContent(oid, 1, bytesOf('v1', 5000), meta(1)))
      const v2 = await e.putContent(oid, 2, bytesOf('v2', 7000), meta(2))
      expectOk(v2)
      expect(v2.kind).toBe('UPDATE')
      // The same write again is a no-op that answers the same commitment.
      const again = await e.putContent(oid, 2, bytesOf('v2', 7000), meta(2))
      expectOk(again)
      expect(again.hash_commit).toBe(v2.hash_commit)
      const conflict = await e.putContent(oid, 2, bytesOf('other', 7000), meta(2))
      expect(conflict).toMatchObject({
        ok: false,
        error_code: 'SE_ERR_INVALID_VERSION',
        code: 'VERSION_CONFLICT',
      })
      const gap = await e.putContent(oid, 4, bytesOf('v4', 10), meta(4))
      expect(gap).toMatchObject({ ok: false, error_code: 'SE_ERR_INVALID_VERSION' })
      const latest = await h.engine(h.nodeIds[3]!).getContent(oid)
      expectOk(latest)
      expect(latest.version).toBe(2)
      expect(Buffer.from(latest.content_bytes).equals(Buffer.from(bytesOf('v2', 7000)))).toBe(true)
      const first = await h.engine(h.nodeIds[2]!).getContent(oid, 1)
      expectOk(first)
      expect(Buffer.from(first.content_bytes).equals(Buffer.from(bytesOf('v1', 5000)))).toBe(true)
    })

    it('records a delete marker as a version of its own; history stays readable', async () => {
      const e = h.engine(h.nodeIds[0]!)
      const oid = objectId('suite', 'deleted')
      expectOk(await e.putContent(oid, 1, bytesOf('d1', 3000), meta(5)))
      const del = await e.deleteContent(oid, 2, meta(6))
      expectOk(del)
      expect(del.kind).toBe('DELETE_MARKER')
      expect(del.content_size).toBe(0)
      expect(await e.getContent(oid)).toMatchObject({ ok: false, error_code: 'SE_ERR_NOT_FOUND' })
      const old = await e.getContent(oid, 1)
      expectOk(old)
      const listed = await e.listObjects({ prefix: oid })
      expectOk(listed)
      expect(listed.objects.map((o) => [o.version, o.kind])).toEqual([
        [1, 'STORE'],
        [2, 'DELETE_MARKER'],
      ])
    })

    it('answers proofs a third party verifies with the core alone', async () => {
      const e = h.engine(h.nodeIds[2]!)
      const oid = objectId('suite', 'proofs')
      const content = bytesOf('proofs', 6 * BLOCK + 5)
      const put = await e.putContent(oid, 1, content, meta(7))
      expectOk(put)
      for (const id of put.shard_ids) {
        const r = await e.getStorageProof(oid, 1, id)
        expectOk(r)
        expect(r.assigned_nodes).toEqual(put.replica_sets[id])
        expect(r.assigned_nodes).toContain(r.answered_by)
        expect(verifyStorageProof(r.proof, { merkleRoot: r.merkle_root, shardId: id })).toEqual({ ok: true })
        // The root is the one the write committed to, not one the prover chose.
        const tampered = { ...r.proof, leaf_hash: '0'.repeat(64) }
        expect(verifyStorageProof(tampered, { merkleRoot: r.merkle_root, shardId: id }).ok).toBe(false)
      }
      const chosen = await e.getStorageProof(oid, 1, put.shard_ids[0]!, { leafIndex: 1 })
      expectOk(chosen)
      expect(chosen.proof.leaf_index).toBe(1)
      const empty = await e.putContent(objectId('suite', 'tiny'), 1, bytesOf('tiny', 2), meta(8))
      expectOk(empty)
      // Two bytes fill shards 0 and 1; shard 3 is empty and cannot be challenged.
      expect(await e.getStorageProof(objectId('suite', 'tiny'), 1, empty.shard_ids[3]!)).toMatchObject({
        ok: false,
        error_code: 'SE_ERR_PROOF_UNAVAILABLE',
      })
      expect(await e.getStorageProof(oid, 1, '0'.repeat(64))).toMatchObject({
        ok: false,
        error_code: 'SE_ERR_NOT_FOUND',
      })
    })

    it('lists objects sorted by (object_id, version) with filters and paging', async () => {
      const e = h.engine(h.nodeIds[4 % h.nodeIds.length]!)
      const written: Array<{ oid: string; version: number; tick: number; tags: string[] }> = []
      for (let i = 0; i < 12; i++) {
        const oid = objectId('listing', `item-${i}`)
        const tags = i % 3 === 0 ? ['Photo'] : ['text']
        expectOk(
          await e.putContent(
            oid,
            1,
            bytesOf(`l${i}`, 100 + i),
            meta(1000 + i, { tags, author_node_id: 'lister' }),
          ),
        )
        written.push({ oid, version: 1, tick: 1000 + i, tags })
        if (i % 4 === 0) {
          expectOk(
            await e.putContent(
              oid,
              2,
              bytesOf(`l${i}b`, 50),
              meta(2000 + i, { tags, author_node_id: 'lister' }),
            ),
          )
          written.push({ oid, version: 2, tick: 2000 + i, tags })
        }
      }
      const all: Array<{ object_id: string; version: number }> = []
      let after: { object_id: string; version: number } | undefined
      for (let page = 0; page < 50; page++) {
        const r = await e.listObjects({
          limit: 4,
          ...(after === undefined ? {} : { after }),
          author: 'lister',
        })
        expectOk(r)
        all.push(...r.objects.map((o) => ({ object_id: o.object_id, version: o.version })))
        if (r.next_cursor === null) break
        after = r.next_cursor
      }
      const expected = written
        .map((w) => ({ object_id: w.oid, version: w.version }))
        .sort((x, y) =>
          x.object_id < y.object_id ? -1 : x.object_id > y.object_id ? 1 : x.version - y.version,
        )
      expect(all).toEqual(expected)
      const photos = await e.listObjects({ tag: 'photo', author: 'lister', limit: 100 })
      expectOk(photos)
      expect(photos.objects.length).toBe(written.filter((w) => w.tags[0] === 'Photo').length)
      expect(photos.objects.every((o) => o.metadata.tags.includes('photo'))).toBe(true)
      const late = await e.listObjects({ tick_from: 2000, tick_to: 2999, author: 'lister' })
      expectOk(late)
      expect(late.objects.every((o) => o.version === 2)).toBe(true)
      expect(await e.listObjects({ limit: 0 })).toMatchObject({
        ok: false,
        error_code: 'SE_ERR_INVALID_INPUT',
      })
      expect(await e.listObjects({ colour: 'red' })).toMatchObject({
        ok: false,
        error_code: 'SE_ERR_INVALID_INPUT',
      })
      // The cursor is exact too: a key it does not know is refused, not ignored.
      const cursor = { object_id: objectId('suite', 'list-cursor'), version: 1 }
      expectOk(await e.listObjects({ after: cursor, limit: 1 }))
      expect(await e.listObjects({ after: { ...cursor, extra: true }, limit: 1 })).toMatchObject({
        ok: false,
        error_code: 'SE_ERR_INVALID_INPUT',
      })
    })

    it('refuses bad input with SE_ERR_INVALID_INPUT and logs one event per call', async () => {
      const coordinator = h.nodeIds[0]!
      const e = h.engine(coordinator)
      const before = h.logEntries(coordinator)
      expect(await e.putContent('XYZ', 1, new Uint8Array(1), meta(1))).toMatchObject({
        ok: false,
        error_code: 'SE_ERR_INVALID_INPUT',
      })
      const oid = objectId('suite', 'bad')
      expect(await e.putContent(oid, 0, new Uint8Array(1), meta(1))).toMatchObject({
        error_code: 'SE_ERR_INVALID_INPUT',
      })
      expect(await e.putContent(oid, 1, new Uint8Array(1), { author_node_id: 'a' })).toMatchObject({
        error_code: 'SE_ERR_INVALID_INPUT',
        code: 'INVALID_METADATA',
      })
      expect(await e.getContent(oid, 1)).toMatchObject({ ok: false, error_code: 'SE_ERR_NOT_FOUND' })
      expect(await e.putContent(oid, 1, new Uint8Array(1), meta(1), { epoch: 99 })).toMatchObject({
        error_code: 'SE_ERR_AEGIS_CONTEXT_MISSING',
      })
      expect(h.logEntries(coordinator) - before).toBe(5)
    })

    it('reads and writes with one node down; the write records what is under-replicated', async () => {
      const down = h.nodeIds[h.nodeIds.length - 2]!
      const coordinator = h.nodeIds[0]!
      const oid = objectId('suite', 'failover')
      const content = bytesOf('failover', 2 * BLOCK + 3)
      expectOk(await h.engine(coordinator).putContent(oid, 1, content, meta(20)))
      await h.setDown(down, true)
      try {
        const got = await h.engine(coordinator).getContent(oid, 1)
        expectOk(got)
        expect(Buffer.from(got.content_bytes).equals(Buffer.from(content))).toBe(true)
        expect(got.proofs.every((p) => p.served_by !== down)).toBe(true)
        const put = await h.engine(coordinator).putContent(oid, 2, bytesOf('failover-2', 9 * BLOCK), meta(21))
        expectOk(put)
        const missing = Object.values(put.under_replicated).flat()
        const placedOnDown = Object.values(put.replica_sets).some((r) => r.includes(down))
        expect(missing.length > 0).toBe(placedOnDown)
        expect(missing.every((n) => n === down)).toBe(true)
      } finally {
        await h.setDown(down, false)
      }
      const back = await h.engine(down).getContent(oid, 2)
      expectOk(back)
    })

    it('reads a shard whose every replica is away as SHARD_UNAVAILABLE, not as corruption', async () => {
      // An object whose two nodes outside shard 0's replicas are both catalogue homes: with those
      // two up the record resolves, and every copy of shard 0 is out of reach.
      let oid = ''
      let outside: string[] = []
      for (
        let i = 0;
        outside.length !== 2 || outside.some((n) => !eligible.catalogueHomes(oid, 3).includes(n));
        i++
      ) {
        oid = objectId('suite', `unreachable-${i}`)
        const replicas = eligible.place(shardId(oid, 1, 0), 3).selected
        outside = h.nodeIds.filter((n) => !replicas.includes(n))
      }
      const content = bytesOf('unreachable', 5000)
      expectOk(await h.engine(outside[0]!).putContent(oid, 1, content, meta(30)))
      const away = h.nodeIds.filter((n) => !outside.includes(n))
      for (const n of away) await h.setDown(n, true)
      try {
        expect(await h.engine(outside[1]!).getContent(oid, 1)).toMatchObject({
          ok: false,
          code: 'SHARD_UNAVAILABLE',
          error_code: 'SE_ERR_NO_ELIGIBLE_NODES',
        })
      } finally {
        for (const n of away) await h.setDown(n, false)
      }
      expectOk(await h.engine(outside[1]!).getContent(oid, 1))
    })

    it('stages a small object whole with one node down; the write records only that node as missing', async () => {
      const down = h.nodeIds[1]!
      const coordinator = h.nodeIds[0]!
      await h.setDown(down, true)
      try {
        for (let i = 0; i < 6; i++) {
          const oid = objectId('suite', `small-down-${i}`)
          const content = bytesOf(`small-down-${i}`, 4096 + i)
          const put = await h.engine(coordinator).putContent(oid, 1, content, meta(40 + i))
          expectOk(put)
          const missing = Object.entries(put.under_replicated)
          const placed = Object.entries(put.replica_sets).filter(([, r]) => r.includes(down))
          expect(missing.map(([id]) => id).sort()).toEqual(placed.map(([id]) => id).sort())
          expect(missing.every(([, nodes]) => nodes.length === 1 && nodes[0] === down)).toBe(true)
          const got = await h.engine(h.nodeIds[2]!).getContent(oid, 1)
          expectOk(got)
          expect(Buffer.from(got.content_bytes).equals(Buffer.from(content))).toBe(true)
        }
      } finally {
        await h.setDown(down, false)
      }
    })

    it('never lets two racing writers make two contents readable for one version', async () => {
      for (let round = 0; round < 4; round++) {
        const oid = objectId('race', `r-${round}`)
        const [x, y] = [h.nodeIds[round % h.nodeIds.length]!, h.nodeIds[(round + 2) % h.nodeIds.length]!]
        const [cx, cy] = [bytesOf(`race-x-${round}`, 3 * BLOCK), bytesOf(`race-y-${round}`, 3 * BLOCK)]
        const [rx, ry] = await Promise.all([
          h.engine(x).putContent(oid, 1, cx, meta(30)),
          h.engine(y).putContent(oid, 1, cy, meta(30)),
        ])
        expect(rx.ok && ry.ok).toBe(false)
        const seen = new Set<string>()
        for (const reader of h.nodeIds) {
          const r = await h.engine(reader).getContent(oid, 1)
          if (r.ok) seen.add(r.hash_commit)
        }
        expect(seen.size).toBeLessThanOrEqual(1)
        const winner = [rx, ry].find((r) => r.ok) as StoreSuccess | undefined
        if (winner !== undefined) expect([...seen]).toEqual([winner.hash_commit])
      }
    })

    it('fails over when a replica serves bad bytes', async (ctx) => {
      if (h.tamper === undefined) return ctx.skip()
      const oid = objectId('suite', 'tamper')
      const content = bytesOf('tamper', 3 * BLOCK)
      const put = await h.engine(h.nodeIds[0]!).putContent(oid, 1, content, meta(40))
      expectOk(put)
      const liar = put.replica_sets[put.shard_ids[0]!]![0]!
      h.tamper((node, _shard, _i, block) => (node === liar ? block.map((b) => b ^ 1) : block))
      try {
        const got = await h.engine(liar).getContent(oid, 1)
        expectOk(got)
        expect(Buffer.from(got.content_bytes).equals(Buffer.from(content))).toBe(true)
        expect(got.proofs[0]!.served_by).not.toBe(liar)
      } finally {
        h.tamper(undefined)
      }
    })
  })
}
