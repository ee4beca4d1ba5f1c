import { afterEach, describe, expect, it } from 'vitest'
import { challengeIndex, challengeSeed } from '../../src/core/challenge.js'
import { shardId } from '../../src/core/ids.js'
import type { StorageProof } from '../../src/core/proof.js'
import { verifyStorageProof } from '../../src/core/proof.js'
import { afterTest, engineOn, expectOk, findObject, type Harness } from './consistency-claims-helpers.js'
import { spyHealth } from './cut-short-helpers.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

/** A storage proof is answered only once it verifies against the record (read.ts proveShard). */

const BLOCK = 256 * 1024
let h: Harness | undefined
const undo: Array<() => void> = []
afterEach(async () => {
  h = await afterTest(h, undo)
})

type Prove = (shard: string, leafIndex: number, options?: { signal?: AbortSignal }) => Promise<StorageProof>

/** Makes `node`'s proofs come from `fn` (given its honest prover); returns the undo. */
function forgeProofs(
  net: Harness['net'],
  node: string,
  fn: (honest: Prove, shard: string, leafIndex: number) => Promise<StorageProof>,
) {
  const t = net.transport
  const saved = t.proveShard
  t.proveShard = (n, shard, leafIndex, options) => {
    const honest: Prove = (s, i, o) => saved.call(t, n, s, i, o)
    return n === node ? fn(honest, shard, leafIndex) : honest(shard, leafIndex, options)
  }
  return () => {
    t.proveShard = saved
  }
}

/** An object with a shard of several blocks whose first replica is not the coordinator. */
async function stored(label: string) {
  const p = findObject(h!.nodeIds, label, (o) => h!.nodeIds.some((n) => !o.replicas[0]!.includes(n)))
  const put = await h!.engine(h!.nodeIds[0]!).putContent(p.oid, 1, bytesOf(label, 12 * BLOCK), meta(1))
  expectOk(put)
  const shard = put.shard_ids[0]!
  const replicas = put.replica_sets[shard]!
  const coordinator = h!.nodeIds.find((n) => !replicas.includes(n))!
  return { oid: p.oid, shard, liar: replicas[0]!, next: replicas[1]!, coordinator }
}

describe('a replica whose proof does not verify against the record', () => {
  const lies: Array<[string, (honest: Prove, shard: string, leafIndex: number) => Promise<StorageProof>]> = [
    [
      'a leaf hash that is not its block’s',
      async (honest, s, i) => ({ ...(await honest(s, i)), leaf_hash: 'ab'.repeat(32) }),
    ],
    ['another leaf than the one asked', async (honest, s, i) => honest(s, i + 1)],
    [
      'another object’s id',
      async (honest, s, i) => ({ ...(await honest(s, i)), object_id: 'cd'.repeat(32) }),
    ],
    ['another version', async (honest, s, i) => ({ ...(await honest(s, i)), version: 2 })],
  ]
  it.each(lies)(
    'is skipped for the next replica when it answers %s, and reported as PROOF_INVALID',
    async (_what, lie) => {
      h = await inProcessHarness(5)
      const s = await stored('proof-liar')
      undo.push(forgeProofs(h.net, s.liar, lie))
      const health = spyHealth([])
      const r = await engineOn(h, s.coordinator, {}, health).getStorageProof(s.oid, 1, s.shard, {
        leafIndex: 1,
      })
      expectOk(r)
      expect(r.answered_by).toBe(s.next)
      expect(r.proof).toMatchObject({ object_id: s.oid, version: 1, shard_id: s.shard, leaf_index: 1 })
      expect(
        verifyStorageProof(r.proof, { merkleRoot: r.merkle_root, shardId: s.shard, leafIndex: 1 }),
      ).toEqual({
        ok: true,
      })
      expect(health.reports).toContain(`${s.liar}:PROOF_INVALID`)
      expect(health.reports).toContain(`${s.next}:ok`)
    },
  )
})

describe('a proof of a leaf index outside the shard', () => {
  it('is refused as INVALID_INPUT before any replica is asked', async () => {
    h = await inProcessHarness(5)
    const s = await stored('proof-index')
    let asked = 0
    undo.push(
      forgeProofs(h.net, s.liar, async (honest, shard, i) => {
        asked++
        return honest(shard, i)
      }),
    )
    const e = engineOn(h, s.coordinator)
    // 12 blocks over 4 shards: 3 blocks in each.
    const leafCount = 3
    for (const leafIndex of [-1, leafCount, 1.5]) {
      expect(await e.getStorageProof(s.oid, 1, s.shard, { leafIndex })).toMatchObject({
        ok: false,
        error_code: 'SE_ERR_INVALID_INPUT',
      })
    }
    expectOk(await e.getStorageProof(s.oid, 1, s.shard, { leafIndex: leafCount - 1 }))
    expect(asked).toBe(1)
  })
})

describe('a proof whose caller goes while a replica is asked', () => {
  it('blames no replica and asks no other', async () => {
    h = await inProcessHarness(5)
    const s = await stored('proof-gone')
    const gone = new AbortController()
    const asked: string[] = []
    const t = h.net.transport
    const saved = t.proveShard
    t.proveShard = async (n, shard, i, options) => {
      asked.push(n)
      gone.abort(new Error('caller gone'))
      options?.signal?.throwIfAborted()
      return saved.call(t, n, shard, i, options)
    }
    undo.push(() => {
      t.proveShard = saved
    })
    const health = spyHealth([])
    const r = await engineOn(h, s.coordinator, {}, health).getStorageProof(s.oid, 1, s.shard, {
      leafIndex: 0,
      signal: gone.signal,
    })
    expect(r.ok).toBe(false)
    expect(asked).toEqual([s.liar])
    expect(health.reports.filter((x) => !x.endsWith(':ok'))).toEqual([])
  })
})

describe('a proof asked without a leaf index', () => {
  it('answers the epoch’s challenge over every leaf of the shard, the last included', async () => {
    h = await inProcessHarness(5)
    const view = h.net.membership.current()
    const seed = challengeSeed(view.epoch, view.snapshotHash)
    // A shard of 2 blocks whose challenge is its last leaf (a challenge over 1 leaf would miss it).
    const p = findObject(h.nodeIds, 'challenge-last', (o) => {
      const id = shardId(o.oid, 1, 0)
      return challengeIndex(seed, id, 2) === 1 && h!.nodeIds.some((n) => !o.replicas[0]!.includes(n))
    })
    const put = await h
      .engine(h.nodeIds[0]!)
      .putContent(p.oid, 1, bytesOf('challenge-last', 8 * BLOCK), meta(1))
    expectOk(put)
    const shard = put.shard_ids[0]!
    const r = await h.engine(h.nodeIds[1]!).getStorageProof(p.oid, 1, shard)
    expectOk(r)
    expect(r.proof).toMatchObject({ leaf_count: 2, leaf_index: 1 })
  })
})

describe('a proof of an empty shard', () => {
  it('is refused as EMPTY_SHARD without asking any replica', async () => {
    h = await inProcessHarness(5)
    // Two bytes fill shards 0 and 1; shard 3 is empty.
    const p = findObject(h.nodeIds, 'empty-shard', () => true)
    const put = await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, bytesOf('empty-shard', 2), meta(1))
    expectOk(put)
    let asked = 0
    const t = h.net.transport
    const saved = t.proveShard
    t.proveShard = (...args) => {
      asked++
      return saved.apply(t, args)
    }
    undo.push(() => {
      t.proveShard = saved
    })
    // Whether the epoch's challenge or a leaf the caller names is asked for.
    for (const options of [{}, { leafIndex: 0 }]) {
      expect(
        await h.engine(h.nodeIds[1]!).getStorageProof(p.oid, 1, put.shard_ids[3]!, options),
      ).toMatchObject({
        ok: false,
        code: 'EMPTY_SHARD',
        error_code: 'SE_ERR_PROOF_UNAVAILABLE',
      })
    }
    expect(asked).toBe(0)
  })
})
