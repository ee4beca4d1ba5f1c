import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { sha3_256 } from '@noble/hashes/sha3.js'
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { generateAuditKey } from '../../src/log/keys.js'
import { NoSnapshotError, SnapshotRejectedError } from '../../src/membership/errors.js'
import {
  createSnapshot,
  type EpochSnapshot,
  GENESIS_PREV_HASH,
  isPeerIdText,
  signSnapshot,
  verifySnapshot,
} from '../../src/membership/snapshot.js'
import { SnapshotMembership } from '../../src/membership/snapshot-membership.js'
import type { NodeEntry } from '../../src/membership/types.js'

const keyA = generateAuditKey(new Uint8Array(32).fill(1))
const keyB = generateAuditKey(new Uint8Array(32).fill(2))
const A = toHex(keyA.publicKey)
const B = toHex(keyB.publicKey)
const nodeKey = (i: number) => toHex(generateAuditKey(new Uint8Array(32).fill(10 + i)).publicKey)

function node(id: string, i: number): NodeEntry {
  return { node_id: id, multiaddrs: [`/ip4/127.0.0.1/tcp/${4000 + i}`], mldsa_public_key: nodeKey(i) }
}

/** Node ids are libp2p peer ids (docs/protocol.md 1): four fixed ones, from fixed Ed25519 seeds. */
const [PA, PB, PC, PD] = (await Promise.all(
  [1, 2, 3, 4].map(async (i) =>
    peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(i))).toString(),
  ),
)) as [string, string, string, string]
/** Peer ids are ASCII (base58btc), so UTF-8 byte order is the code-unit order `sort()` uses. */
const sorted = (ids: string[]) => [...ids].sort()
const NODES = [PC, PA, PB].map(node)

function make(
  epoch: number,
  opts: { nodes?: NodeEntry[]; prev?: EpochSnapshot; key?: typeof keyA; startTick?: number } = {},
): EpochSnapshot {
  const key = opts.key ?? keyA
  const body = createSnapshot({
    epoch,
    startTick: opts.startTick ?? epoch * 100,
    nodes: opts.nodes ?? NODES,
    previous: opts.prev,
    authorityPublicKey: key.publicKey,
  })
  return signSnapshot(body, key)
}

/** JCS of plain ASCII data: sorted keys, no whitespace (the oracle for the snapshot hash). */
function sortedJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${sortedJson(o[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(v)
}

const clone = (s: EpochSnapshot): EpochSnapshot => JSON.parse(JSON.stringify(s))

describe('qfs-epoch-snapshot/1', () => {
  const s0 = make(0)

  it('hashes the canonical JSON of everything but hash and signature, and signs domain || hash', () => {
    const { snapshot_hash, signature, ...body } = s0
    expect(snapshot_hash).toBe(toHex(sha3_256(new TextEncoder().encode(sortedJson(body)))))
    const message = new Uint8Array([
      ...new TextEncoder().encode('qfs-epoch-snapshot/1'),
      ...Buffer.from(snapshot_hash, 'hex'),
    ])
    expect(ml_dsa65.verify(Buffer.from(signature, 'hex'), message, keyA.publicKey)).toBe(true)
    expect(s0.prev_snapshot_hash).toBe(GENESIS_PREV_HASH)
    expect(s0.params).toEqual({
      block_size_bytes: 262144,
      num_shards_per_object: 4,
      replication_factor: 3,
      schema_version: 1,
    })
    expect(verifySnapshot(s0, [A])).toEqual({ ok: true, snapshot: s0 })
  })

  it('sorts nodes by node id', () => {
    const s = make(0, { nodes: [node(PD, 1), ...NODES] })
    expect(s.nodes.map((n) => n.node_id)).toEqual(sorted([PA, PB, PC, PD]))
    expect(verifySnapshot(s, [A]).ok).toBe(true)
  })

  it('calls a node id that is not a libp2p peer id MALFORMED, and refuses to create it', () => {
    // Placement would put replicas on such an id, and no dial can ever reach it (net/dial.ts).
    const notPeerIds = [
      'storage-a',
      '\uFF61',
      `${PA}x`,
      PA.slice(0, -1),
      // The same key as a CIDv1 (base32): a peer id, but not in the standard form nodes compare.
      peerIdFromString(PA).toCID().toString(),
    ]
    for (const id of notPeerIds) {
      const entry = node(id, 1)
      expect(() => createSnapshot({ epoch: 0, startTick: 0, nodes: [entry], authorityPublicKey: A })).toThrow(
        expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringMatching(/peer id/) }),
      )
      const forged = clone(s0)
      forged.nodes = [entry]
      expect(verifySnapshot(forged, [A])).toMatchObject({
        ok: false,
        code: 'MALFORMED',
        detail: expect.stringMatching(/peer id/),
      })
    }
  })

  it('calls the peer id of a key other than Ed25519 MALFORMED: its acceptances could not be checked', async () => {
    const secp = peerIdFromPrivateKey(await generateKeyPair('secp256k1')).toString()
    expect(isPeerIdText(secp)).toBe(true)
    expect(() =>
      createSnapshot({ epoch: 0, startTick: 0, nodes: [node(secp, 1)], authorityPublicKey: A }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringMatching(/Ed25519/) }))
    const forged = clone(s0)
    forged.nodes = [node(secp, 1)]
    expect(verifySnapshot(forged, [A])).toMatchObject({
      ok: false,
      code: 'MALFORMED',
      detail: expect.stringMatching(/Ed25519/),
    })
  })

  it('refuses a signature that does not verify', () => {
    const bad = clone(s0)
    bad.signature = (bad.signature[0] === '0' ? '1' : '0') + bad.signature.slice(1)
    expect(verifySnapshot(bad, [A])).toMatchObject({ ok: false, code: 'BAD_SIGNATURE' })
    // Signed by B while naming A as its authority.
    const forged = clone(s0)
    forged.signature = toHex(
      ml_dsa65.sign(
        new Uint8Array([
          ...new TextEncoder().encode('qfs-epoch-snapshot/1'),
          ...Buffer.from(forged.snapshot_hash, 'hex'),
        ]),
        keyB.secretKey,
      ),
    )
    expect(verifySnapshot(forged, [A, B])).toMatchObject({ ok: false, code: 'BAD_SIGNATURE' })
  })

  it('refuses an authority that is not trusted', () => {
    expect(verifySnapshot(make(0, { key: keyB }), [A])).toMatchObject({
      ok: false,
      code: 'UNTRUSTED_AUTHORITY',
    })
    expect(verifySnapshot(s0, [])).toMatchObject({ ok: false, code: 'UNTRUSTED_AUTHORITY' })
    expect(verifySnapshot(make(0, { key: keyB }), [keyA.publicKey, keyB.publicKey]).ok).toBe(true)
  })

  it('refuses a tampered node list, with or without a recomputed hash', () => {
    const moved = clone(s0)
    moved.nodes[0]!.multiaddrs = ['/ip4/10.0.0.9/tcp/4001']
    expect(verifySnapshot(moved, [A])).toMatchObject({ ok: false, code: 'HASH_MISMATCH' })
    const dropped = clone(s0)
    dropped.nodes.pop()
    expect(verifySnapshot(dropped, [A])).toMatchObject({ ok: false, code: 'HASH_MISMATCH' })
    const { snapshot_hash: _h, signature: _s, ...body } = moved
    moved.snapshot_hash = toHex(sha3_256(new TextEncoder().encode(sortedJson(body))))
    expect(verifySnapshot(moved, [A])).toMatchObject({ ok: false, code: 'BAD_SIGNATURE' })
  })

  it('checks the chain against the previous snapshot', () => {
    const s1 = make(1, { prev: s0 })
    expect(s1.prev_snapshot_hash).toBe(s0.snapshot_hash)
    expect(verifySnapshot(s1, [A], s0).ok).toBe(true)
    expect(verifySnapshot(make(2, { prev: s0 }), [A], s0)).toMatchObject({ ok: false, code: 'BROKEN_CHAIN' })
    expect(verifySnapshot(make(1), [A], s0)).toMatchObject({ ok: false, code: 'BROKEN_CHAIN' })
    expect(verifySnapshot(make(1, { prev: s0, startTick: 0 }), [A], s0)).toMatchObject({
      ok: false,
      code: 'BROKEN_CHAIN',
    })
    // Without a previous snapshot the chain is not checked: the first one is the trust anchor.
    expect(verifySnapshot(make(7, { prev: s0 }), [A]).ok).toBe(true)
  })

  it.each([
    ['null', () => null],
    ['an array', () => []],
    ['an unknown field', () => ({ ...clone(s0), extra: 1 })],
    ['a missing field', () => ({ ...clone(s0), start_tick: undefined })],
    ['another schema', () => ({ ...clone(s0), schema: 'qfs-epoch-snapshot/2' })],
    ['a fractional epoch', () => ({ ...clone(s0), epoch: 1.5 })],
    ['a short signature', () => ({ ...clone(s0), signature: 'ab' })],
    ['an upper-case hash', () => ({ ...clone(s0), snapshot_hash: s0.snapshot_hash.toUpperCase() })],
    ['unsorted nodes', () => ({ ...clone(s0), nodes: [...clone(s0).nodes].reverse() })],
    ['a duplicate node', () => ({ ...clone(s0), nodes: [s0.nodes[0], s0.nodes[0]] })],
    ['no nodes', () => ({ ...clone(s0), nodes: [] })],
    ['a short node key', () => ({ ...clone(s0), nodes: [{ ...s0.nodes[0], mldsa_public_key: 'aa' }] })],
    ['a bad multiaddr', () => ({ ...clone(s0), nodes: [{ ...s0.nodes[0], multiaddrs: ['tcp:1'] }] })],
    ['out-of-range params', () => ({ ...clone(s0), params: { ...s0.params, replication_factor: 0 } })],
    ['an unknown param', () => ({ ...clone(s0), params: { ...s0.params, speed: 1 } })],
  ])('calls %s MALFORMED', (_name, value) => {
    expect(verifySnapshot(value(), [A])).toMatchObject({ ok: false, code: 'MALFORMED' })
  })

  it('is total: any JSON value gets a verdict, never an exception', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const verdict = verifySnapshot(v, [A])
        expect(verdict).toMatchObject({ ok: false, code: 'MALFORMED' })
      }),
      { seed: 20261125, numRuns: 300 },
    )
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(s0)), fc.jsonValue(), (key, value) => {
        const changed = { ...clone(s0), [key]: value }
        fc.pre(
          JSON.stringify(changed[key as keyof EpochSnapshot]) !==
            JSON.stringify(s0[key as keyof EpochSnapshot]),
        )
        expect(verifySnapshot(changed, [A]).ok).toBe(false)
      }),
      { seed: 7, numRuns: 200 },
    )
  })

  it('refuses to create or sign an inconsistent snapshot', () => {
    const body = createSnapshot({ epoch: 0, startTick: 0, nodes: NODES, authorityPublicKey: keyA.publicKey })
    expect(() => signSnapshot(body, keyB)).toThrow(/authority_public_key/)
    expect(() => createSnapshot({ epoch: -1, startTick: 0, nodes: NODES, authorityPublicKey: A })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    )
  })
})

describe('SnapshotMembership', () => {
  const s0 = make(0)
  const s1 = make(1, { prev: s0, nodes: [...NODES, node(PD, 4)], key: keyB })

  it('answers NO_SNAPSHOT before the first snapshot', () => {
    const m = new SnapshotMembership({ trustedKeys: [A, B] })
    expect(() => m.current()).toThrow(NoSnapshotError)
    expect(m.at(0)).toBeUndefined()
    expect(m.isEligible(PA)).toBe(false)
  })

  it('moves through two epochs and keeps the old one answerable', () => {
    const m = new SnapshotMembership({ trustedKeys: [A, B] })
    const v0 = m.accept(s0)
    expect(v0).toMatchObject({
      epoch: 0,
      startTick: 0,
      snapshotHash: s0.snapshot_hash,
      params: DEFAULT_PARAMS,
    })
    expect(v0.eligible.nodes).toEqual(sorted([PA, PB, PC]))
    expect(m.isEligible(PD)).toBe(false)

    const v1 = m.accept(s1)
    expect(m.current()).toBe(v1)
    expect(v1.eligible.nodes).toEqual(sorted([PA, PB, PC, PD]))
    expect(v1.nodes.get(PD)?.multiaddrs).toEqual(['/ip4/127.0.0.1/tcp/4004'])
    expect(m.isEligible(PD)).toBe(true)
    expect(m.at(0)).toBe(v0)
    expect(m.snapshotAt(0)).toEqual(s0)
    expect(m.latest).toEqual(s1)
    // Placement over each epoch's own list.
    const oid = 'ab'.repeat(32)
    expect([...v0.eligible.catalogueHomes(oid, 3)].sort()).toEqual(sorted([PA, PB, PC]))
    expect(v1.eligible.catalogueHomes(oid, 3)).toHaveLength(3)

    // The same snapshot again changes nothing.
    expect(m.accept(s0)).toBe(v0)
    expect(m.accept(s1)).toBe(v1)
    expect(m.current().epoch).toBe(1)
  })

  it('refuses a fork, a gap, an untrusted key and a bad signature with SNAPSHOT_REJECTED', () => {
    const m = new SnapshotMembership({ trustedKeys: [A] })
    m.accept(s0)
    const reject = (s: unknown) => {
      try {
        m.accept(s)
      } catch (err) {
        expect(err).toBeInstanceOf(SnapshotRejectedError)
        expect((err as SnapshotRejectedError).code).toBe('SNAPSHOT_REJECTED')
        return (err as SnapshotRejectedError).reason
      }
      throw new Error('accepted')
    }
    expect(reject(make(0, { nodes: NODES.slice(0, 2) }))).toBe('BROKEN_CHAIN')
    expect(reject(make(2, { prev: s0 }))).toBe('BROKEN_CHAIN')
    expect(reject(s1)).toBe('UNTRUSTED_AUTHORITY')
    const bad = clone(make(1, { prev: s0 }))
    bad.signature = `${bad.signature.slice(0, 10)}${bad.signature[10] === 'f' ? 'e' : 'f'}${bad.signature.slice(11)}`
    expect(reject(bad)).toBe('BAD_SIGNATURE')
    expect(m.current().epoch).toBe(0)
  })

  it('remembers earlier epochs for looking up only, verified and named by the next one held', () => {
    const s2 = make(2, { prev: s1, nodes: [...NODES, node(PD, 4)], key: keyB })
    const m = new SnapshotMembership({ trustedKeys: [A, B] })
    m.accept(s2)
    const reason = (s: unknown) => {
      try {
        m.remember(s)
      } catch (err) {
        expect(err).toBeInstanceOf(SnapshotRejectedError)
        return (err as SnapshotRejectedError).reason
      }
      return 'remembered'
    }
    // Not an earlier epoch: that is accept's (or already in force).
    expect(reason(make(3, { prev: s2 }))).toBe('BROKEN_CHAIN')
    expect(reason(s2)).toBe('remembered')
    // Another snapshot of epoch 1 than the one epoch 2 names.
    expect(reason(make(1, { prev: s0, key: keyB }))).toBe('BROKEN_CHAIN')
    const forged = clone(s1)
    forged.signature = `${forged.signature.slice(0, 10)}${forged.signature[10] === 'f' ? 'e' : 'f'}${forged.signature.slice(11)}`
    expect(reason(forged)).toBe('BAD_SIGNATURE')
    // Epoch 0 before epoch 1 is back: nothing links it to the chain in force yet.
    expect(reason(s0)).toBe('BROKEN_CHAIN')
    expect(m.at(1)).toBeUndefined()
    expect(m.at(0)).toBeUndefined()

    expect(reason(s1)).toBe('remembered')
    expect(reason(s0)).toBe('remembered')
    expect(m.at(1)?.snapshotHash).toBe(s1.snapshot_hash)
    expect(m.at(0)?.eligible.nodes).toEqual(sorted([PA, PB, PC]))
    expect(m.snapshotAt(0)).toEqual(s0)
    // Never the snapshot in force, and the same one again changes nothing.
    expect(m.current().epoch).toBe(2)
    expect(m.latest).toEqual(s2)
    expect(m.remember(s0)).toBe(m.at(0))
    // Another snapshot of an epoch held (remembered, or in force) is a fork, never taken as the one held.
    expect(reason(make(0, { nodes: NODES.slice(0, 2) }))).toBe('BROKEN_CHAIN')
    expect(reason(make(2, { prev: s1, startTick: 250 }))).toBe('BROKEN_CHAIN')
    // An untrusted authority is refused as at accept.
    const other = new SnapshotMembership({ trustedKeys: [B] })
    other.accept(s2)
    expect(() => other.remember(s0)).toThrow(expect.objectContaining({ reason: 'UNTRUSTED_AUTHORITY' }))
  })

  it('refuses a trusted key that is not an ML-DSA-65 public key', () => {
    expect(() => new SnapshotMembership({ trustedKeys: ['abcd'] })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    )
  })
})
