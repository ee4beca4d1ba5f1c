import { describe, expect, it } from 'vitest'
import type { VersionRecord } from '../../src/core/record.js'
import type { ProofSuccess, ShardReadInfo } from '../../src/engine/responses.js'
import { MAX_DATA_BYTES } from '../../src/net/frames.js'
import {
  checkProofAnswer,
  checkReadHeader,
  checkReadTrailer,
  type ReadHeaderView,
} from '../../src/sdk/checks.js'
import { fixture, honestProof, honestRead } from './stub.js'

/**
 * The read and proof checks on their own, each lie alone: the wire client's parsing already ties a
 * header to its record, but these checks are the SDK's exported API and must hold by themselves.
 */
const f = fixture('check-read', 5 * 262_144 + 333)
const other = fixture('check-read-other', 5 * 262_144 + 333)

describe('checkReadHeader', () => {
  const header = (): ReadHeaderView =>
    structuredClone({
      object_id: f.oid,
      version: 1,
      kind: f.record.kind,
      metadata: f.metadata,
      record: f.record,
    }) as ReadHeaderView

  it('accepts the honest header, asked by version or as the latest', () => {
    expect(checkReadHeader(header(), f.oid, 1)).toBeUndefined()
    expect(checkReadHeader(header(), f.oid)).toBeUndefined()
  })

  it('refuses a header or a record naming another object, or another version (each alone)', () => {
    const h1 = header()
    h1.object_id = other.oid
    expect(checkReadHeader(h1, f.oid, 1)).toMatch(/not/)
    const h2 = header()
    h2.record.object_id = other.oid
    expect(checkReadHeader(h2, f.oid, 1)).toMatch(/not/)
    const h3 = header()
    h3.version = 2
    expect(checkReadHeader(h3, f.oid, 1)).toMatch(/version/)
    const h4 = header()
    h4.record.version = 2
    expect(checkReadHeader(h4, f.oid, 1)).toMatch(/version/)
    // Version 1 asked: a header and record of version 2 are not it.
    const h5 = header()
    h5.version = 2
    h5.record.version = 2
    expect(checkReadHeader(h5, f.oid, 1)).toMatch(/version/)
    expect(checkReadHeader(h5, f.oid, 2)).toBeUndefined()
  })

  it('refuses a delete marker for a latest read only, whatever the header says its kind is', () => {
    const h = header()
    h.record.kind = 'DELETE_MARKER'
    expect(checkReadHeader(h, f.oid)).toMatch(/delete marker/)
    expect(checkReadHeader(h, f.oid, 1)).toBeUndefined()
  })

  it("refuses metadata other than the record's, and blocks over one DATA frame (not at it)", () => {
    const h = header()
    h.metadata = { ...f.metadata, tags: ['forged'] }
    expect(checkReadHeader(h, f.oid, 1)).toMatch(/metadata/)
    const at = header()
    at.record.block_size_bytes = MAX_DATA_BYTES
    expect(checkReadHeader(at, f.oid, 1)).toBeUndefined()
    const over = header()
    over.record.block_size_bytes = MAX_DATA_BYTES + 1
    expect(checkReadHeader(over, f.oid, 1)).toMatch(/exceed/)
  })
})

describe('checkReadTrailer', () => {
  const trailer = () => structuredClone((honestRead(f).trailer as { proofs: ShardReadInfo[] }).proofs)
  const record: VersionRecord = f.record

  it('accepts the honest trailer', () => {
    expect(checkReadTrailer(trailer(), record)).toBeUndefined()
  })

  const lies: [string, (p: ShardReadInfo[]) => void][] = [
    ['a shard left out', (p) => p.pop()],
    ['a shard too many', (p) => p.push({ ...p[3]! })],
    ['shard indexes swapped', (p) => ([p[0]!.shard_index, p[1]!.shard_index] = [1, 0])],
    ['another shard id', (p) => (p[2]!.shard_id = other.record.shards[2]!.shard_id)],
    ['another root', (p) => (p[1]!.merkle_root = 'cd'.repeat(32))],
    ['another leaf count', (p) => (p[1]!.leaf_count = 1)],
    ['a server that holds another shard only', (p) => (p[0]!.served_by = 'holder-of-shard-1')],
    ['no server for a shard with bytes', (p) => (p[2]!.served_by = null)],
  ]
  const shard1Only: VersionRecord = {
    ...record,
    shards: record.shards.map((s, i) =>
      i === 1 ? { ...s, replicas: [...s.replicas, 'holder-of-shard-1'] } : s,
    ),
  }
  for (const [name, lie] of lies) {
    it(`refuses ${name}`, () => {
      const proofs = trailer()
      lie(proofs)
      expect(checkReadTrailer(proofs, shard1Only)).toMatch(/trailer/)
    })
  }

  it('accepts no server for an empty shard', () => {
    const tiny = fixture('check-read-tiny', 3)
    const proofs = (honestRead(tiny).trailer as { proofs: ShardReadInfo[] }).proofs
    expect(tiny.record.shards.some((s) => s.length === 0)).toBe(true)
    expect(proofs.filter((p) => p.served_by === null).length).toBeGreaterThan(0)
    expect(checkReadTrailer(proofs, tiny.record)).toBeUndefined()
  })
})

describe('checkProofAnswer', () => {
  const shard = f.record.shards[1]!
  const answer = () => structuredClone(honestProof(f, 1, 1)) as unknown as ProofSuccess
  const expected = { shardId: shard.shard_id, leafIndex: 1 }

  it('accepts the honest answer', () => {
    expect(checkProofAnswer(answer(), f.record, expected)).toEqual({ ok: true })
  })

  // Each lie in the answer's own fields, its proof left honest.
  const lies: [string, (a: ProofSuccess) => void, RegExp][] = [
    ['another object', (a) => (a.object_id = other.oid), /another version/],
    ['another version', (a) => (a.version = 2), /another version/],
    ['another shard', (a) => (a.shard_id = f.record.shards[2]!.shard_id), /another shard/],
    ['another root', (a) => (a.merkle_root = 'cd'.repeat(32)), /merkle_root/],
    ['holders in another order', (a) => a.assigned_nodes.reverse(), /assigned_nodes/],
    ['a holder missing', (a) => a.assigned_nodes.pop(), /assigned_nodes/],
    ['an answer from a non-holder', (a) => (a.answered_by = 'outsider'), /not a holder/],
  ]
  for (const [name, lie, reason] of lies) {
    it(`refuses ${name}`, () => {
      const a = answer()
      lie(a)
      expect(checkProofAnswer(a, f.record, expected)).toMatchObject({
        ok: false,
        reason: expect.stringMatching(reason),
      })
    })
  }

  it('refuses an honest proof of another shard of the record, or of another block than asked', () => {
    expect(
      checkProofAnswer(structuredClone(honestProof(f, 2, 0)) as unknown as ProofSuccess, f.record, expected),
    ).toMatchObject({ ok: false })
    expect(checkProofAnswer(answer(), f.record, { shardId: shard.shard_id, leafIndex: 0 })).toMatchObject({
      ok: false,
    })
    expect(checkProofAnswer(answer(), f.record, { shardId: 'ef'.repeat(32) })).toMatchObject({
      ok: false,
      reason: 'the shard is not part of the record',
    })
  })

  it("refuses a proof whose leaf count is not the record's", () => {
    const a = answer()
    const record = {
      ...f.record,
      shards: f.record.shards.map((s, i) => (i === 1 ? { ...s, leaf_count: 3 } : s)),
    }
    expect(checkProofAnswer(a, record, expected)).toMatchObject({ ok: false })
  })
})
