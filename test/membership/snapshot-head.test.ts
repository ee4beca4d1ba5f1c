import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { sha3_256 } from '@noble/hashes/sha3.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { generateAuditKey } from '../../src/log/keys.js'
import { createSnapshot, type EpochSnapshot, signSnapshot } from '../../src/membership/snapshot.js'
import { headOf, judgeAgainstHead, parseSnapshotHead } from '../../src/membership/snapshot-head.js'
import { SnapshotMembership } from '../../src/membership/snapshot-membership.js'
import type { NodeEntry } from '../../src/membership/types.js'

const key = generateAuditKey(new Uint8Array(32).fill(1))
const ids = await Promise.all(
  [1, 2, 3, 4].map(async (i) =>
    peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(i))).toString(),
  ),
)
const entry = (id: string, i: number): NodeEntry => ({
  node_id: id,
  multiaddrs: [`/ip4/127.0.0.1/tcp/${4000 + i}`],
  mldsa_public_key: toHex(generateAuditKey(new Uint8Array(32).fill(10 + i)).publicKey),
})
const THREE = ids.slice(0, 3).map(entry)

function make(epoch: number, opts: { prev?: EpochSnapshot; nodes?: NodeEntry[]; startTick?: number } = {}) {
  return signSnapshot(
    createSnapshot({
      epoch,
      startTick: opts.startTick ?? epoch * 100,
      nodes: opts.nodes ?? THREE,
      previous: opts.prev,
      authorityPublicKey: key.publicKey,
    }),
    key,
  )
}

const s0 = make(0)
const s1 = make(1, { prev: s0 })
const head1 = headOf(s1)

describe('the saved head of a snapshot chain', () => {
  it('records epoch, start, hash, parameters and the digest of the node ids', () => {
    // Oracle: SHA3-256 (noble) of the JSON array of the ids, sorted as the snapshot lists them.
    const digest = toHex(sha3_256(new TextEncoder().encode(JSON.stringify(s1.nodes.map((n) => n.node_id)))))
    expect(head1).toEqual({
      schema: 'qfs-snapshot-head/1',
      epoch: 1,
      start_tick: 100,
      snapshot_hash: s1.snapshot_hash,
      node_count: 3,
      node_set_digest: digest,
      params: s1.params,
    })
    expect(parseSnapshotHead(JSON.parse(JSON.stringify(head1)))).toEqual(head1)
  })

  it('takes the same snapshot and a later epoch with the same nodes, addresses and keys changed', () => {
    expect(judgeAgainstHead(s1, head1)).toEqual({ ok: true, same: true })
    const moved = THREE.map((n, i) => ({
      ...entry(n.node_id, 20 + i),
      multiaddrs: ['/dns4/x.example/tcp/1'],
    }))
    expect(judgeAgainstHead(make(2, { prev: s1, nodes: moved }), head1)).toEqual({ ok: true, same: false })
    // Epochs in between are unknown to the node: a later one is a new anchor.
    expect(judgeAgainstHead(make(9), head1)).toEqual({ ok: true, same: false })
  })

  it('refuses an older epoch, a fork of its epoch, a next epoch off its chain and a start not later', () => {
    const refused = (s: EpochSnapshot) => {
      const v = judgeAgainstHead(s, head1)
      return v.ok ? 'accepted' : v.reason
    }
    expect(refused(s0)).toBe('BROKEN_CHAIN')
    expect(refused(make(1, { prev: s0, startTick: 150 }))).toBe('BROKEN_CHAIN')
    expect(refused(make(2))).toBe('BROKEN_CHAIN')
    expect(refused(make(2, { prev: s1, startTick: 100 }))).toBe('BROKEN_CHAIN')
    expect(refused(make(5, { startTick: 50 }))).toBe('BROKEN_CHAIN')
  })

  it('refuses a changed node set: one more, one less, or one swapped', () => {
    for (const nodes of [ids.map(entry), THREE.slice(0, 2), [THREE[0]!, THREE[1]!, entry(ids[3]!, 3)]]) {
      expect(judgeAgainstHead(make(2, { prev: s1, nodes }), head1)).toMatchObject({
        ok: false,
        reason: 'NODE_SET_CHANGED',
      })
    }
  })

  it('parses a head file strictly: any field changed to another JSON value is refused or read as given', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(head1)), fc.jsonValue(), (field, value) => {
        const changed = { ...JSON.parse(JSON.stringify(head1)), [field]: value }
        let parsed: unknown
        try {
          parsed = parseSnapshotHead(changed)
        } catch (err) {
          expect(err).toMatchObject({ code: 'INVALID_INPUT' })
          return
        }
        expect(parsed).toEqual(changed)
      }),
      { seed: 4242, numRuns: 300 },
    )
    expect(() => parseSnapshotHead({ ...head1, extra: 1 })).toThrow(/unknown field extra/)
    // Fields the property above reads back as given when they are valid, refused when they are not.
    for (const bad of [
      { node_count: -1 },
      { node_count: '3' },
      { node_set_digest: head1.node_set_digest.toUpperCase() },
      { node_set_digest: head1.node_set_digest.slice(1) },
      { params: { ...head1.params, speed: 1 } },
    ]) {
      expect(() => parseSnapshotHead({ ...head1, ...bad }), JSON.stringify(bad)).toThrow(
        expect.objectContaining({ code: 'INVALID_INPUT' }),
      )
    }
    expect(() => parseSnapshotHead(null)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }))
  })
})

describe('SnapshotMembership.check', () => {
  it('answers what accept would adopt, without adopting it', () => {
    const m = new SnapshotMembership({ trustedKeys: [key.publicKey] })
    expect(m.check(s0)).toEqual(s0)
    expect(m.latest).toBeUndefined()
    m.accept(s0)
    expect(m.check(s1)).toEqual(s1)
    expect(m.check(s0)).toEqual(s0)
    expect(m.current().epoch).toBe(0)
    expect(() => m.check(make(2, { prev: s1 }))).toThrow(expect.objectContaining({ reason: 'BROKEN_CHAIN' }))
    // A forged copy of a held epoch is judged forged first, not a fork.
    expect(() => m.check({ ...s0, signature: 'ab'.repeat(3309) })).toThrow(
      expect.objectContaining({ reason: 'BAD_SIGNATURE' }),
    )
  })
})
