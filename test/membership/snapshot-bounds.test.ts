import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { generateAuditKey } from '../../src/log/keys.js'
import {
  createSnapshot,
  type EpochSnapshot,
  signSnapshot,
  verifySnapshot,
} from '../../src/membership/snapshot.js'
import type { NodeEntry } from '../../src/membership/types.js'

// The limits of a snapshot's fields (docs/protocol.md "Epoch snapshots"), each on both sides: what
// aegis sign refuses to sign (createSnapshot, INVALID_INPUT) and what a node refuses to read
// (verifySnapshot, MALFORMED rather than a hash or signature verdict on a well-formed file).

const key = generateAuditKey(new Uint8Array(32).fill(1))
const A = toHex(key.publicKey)
const nodeKey = toHex(generateAuditKey(new Uint8Array(32).fill(11)).publicKey)
const PA = peerIdFromPrivateKey(
  await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(1)),
).toString()

const entry = (over: Partial<NodeEntry> = {}): NodeEntry => ({
  node_id: PA,
  multiaddrs: ['/ip4/127.0.0.1/tcp/4001'],
  mldsa_public_key: nodeKey,
  ...over,
})
const body = (over: Partial<NodeEntry> = {}, authorityPublicKey: string = A) =>
  createSnapshot({ epoch: 0, startTick: 0, nodes: [entry(over)], authorityPublicKey })
const s0: EpochSnapshot = signSnapshot(body(), key)
const clone = (): EpochSnapshot => JSON.parse(JSON.stringify(s0))
/** `s0` with its one node changed as `over` says (hash and signature left as they were). */
const withNode = (over: Record<string, unknown>) => ({
  ...clone(),
  nodes: [{ ...clone().nodes[0], ...over }],
})

describe('the limits of a snapshot node entry', () => {
  // A multiaddr of exactly `n` characters.
  const addrOf = (n: number) => `/dns4/${'a'.repeat(n - '/dns4//tcp/1'.length)}/tcp/1`

  it('takes 32 multiaddrs of 1024 characters, and refuses a 33rd or a 1025th character', () => {
    const most = Array.from({ length: 32 }, (_, i) => `${addrOf(1024 - 4)}${1000 + i}`.slice(0, 1024))
    expect(most.every((a) => a.length === 1024)).toBe(true)
    const full = signSnapshot(body({ multiaddrs: most }), key)
    expect(verifySnapshot(full, [A]).ok).toBe(true)

    for (const multiaddrs of [[...most, '/ip4/10.0.0.1/tcp/1'], [addrOf(1025)]]) {
      expect(() => body({ multiaddrs })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }))
      expect(verifySnapshot(withNode({ multiaddrs }), [A])).toMatchObject({ ok: false, code: 'MALFORMED' })
    }
  })

  it('refuses a multiaddr that is not well-formed text, and multiaddrs that are not an array', () => {
    const lone = ['/dns4/\uD800/tcp/1']
    expect(() => body({ multiaddrs: lone })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }))
    expect(verifySnapshot(withNode({ multiaddrs: lone }), [A])).toMatchObject({
      ok: false,
      code: 'MALFORMED',
    })
    // A string is iterable: each of its characters must not pass for a multiaddr.
    expect(verifySnapshot(withNode({ multiaddrs: '/' }), [A])).toMatchObject({ ok: false, code: 'MALFORMED' })
  })

  it('refuses a node key one hex digit short or long, or in upper case', () => {
    for (const mldsa_public_key of [nodeKey.slice(2), `${nodeKey}ab`, nodeKey.toUpperCase()]) {
      expect(() => body({ mldsa_public_key })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }))
      expect(verifySnapshot(withNode({ mldsa_public_key }), [A])).toMatchObject({
        ok: false,
        code: 'MALFORMED',
      })
    }
  })
})

describe('the hex fields of a signed snapshot', () => {
  it('refuses an authority key, a signature or a previous hash that is not lower-case hex', () => {
    expect(() => body({}, A.toUpperCase())).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }))
    for (const changed of [
      { ...clone(), signature: s0.signature.toUpperCase() },
      { ...clone(), prev_snapshot_hash: 'g'.repeat(64) },
      { ...clone(), prev_snapshot_hash: '0'.repeat(63) },
    ]) {
      expect(verifySnapshot(changed, [A])).toMatchObject({ ok: false, code: 'MALFORMED' })
    }
  })

  it('takes a trusted key given as hex in either case, as its bytes do', () => {
    expect(verifySnapshot(s0, [A.toUpperCase()])).toEqual({ ok: true, snapshot: s0 })
    expect(verifySnapshot(s0, [key.publicKey])).toEqual({ ok: true, snapshot: s0 })
  })
})
