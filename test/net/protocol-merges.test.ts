import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { PROTOCOL_MERGE_TRUST_MS, protocolMergeStats } from '../../src/net/protocol-merges.js'

// libp2p records a stream's protocol in the peer store at both ends of every stream it opens; a
// QFS node answers a repeat from memory, and the record must still end up with every protocol.
const PROTOCOL = '/qfs-test/merges/1'

describe('protocol merges into the peer store (net/protocol-merges.ts)', () => {
  let a: Libp2p
  let b: Libp2p

  beforeAll(async () => {
    const node = async () =>
      createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
    a = await node()
    b = await node()
    await b.handle(PROTOCOL, async (stream) => {
      await stream.close()
    })
  })
  afterAll(async () => {
    await a?.stop()
    await b?.stop()
  })

  const openOnce = async () => {
    const stream = await a.dialProtocol(b.getMultiaddrs()[0]!, PROTOCOL)
    await stream.close()
  }
  const recorded = async (on: Libp2p, peer: Libp2p) => (await on.peerStore.get(peer.peerId)).protocols
  /** Connected, identify done at both ends (it rewrites the entries, which forgets what was merged). */
  const connected = async () => {
    await openOnce()
    for (const [on, peer] of [
      [a, b],
      [b, a],
    ] as const) {
      await expect.poll(async () => (await recorded(on, peer)).includes('/ipfs/id/1.0.0')).toBe(true)
    }
    await openOnce()
  }

  it('answers repeats from memory at both ends, and records the protocol again after the entry changes', async () => {
    await connected()
    const [skippedA, skippedB] = [protocolMergeStats(a)!.skipped, protocolMergeStats(b)!.skipped]
    for (let i = 0; i < 5; i++) await openOnce()
    // Most of them: other updates of an entry (identify finishing, connection tags) forget it too.
    expect(protocolMergeStats(a)!.skipped - skippedA).toBeGreaterThanOrEqual(3)
    await expect.poll(() => protocolMergeStats(b)!.skipped - skippedB).toBeGreaterThanOrEqual(3)
    expect(await recorded(a, b)).toContain(PROTOCOL)
    // An entry that changed (here its protocols replaced, as identify does) is merged again for real.
    const patched = protocolMergeStats(a)!.skipped
    await a.peerStore.patch(b.peerId, { protocols: ['/other/1'] })
    expect(await recorded(a, b)).not.toContain(PROTOCOL)
    await openOnce()
    expect(protocolMergeStats(a)!.skipped).toBe(patched)
    expect(await recorded(a, b)).toContain(PROTOCOL)
    // A merge of anything else always reaches the store.
    await a.peerStore.merge(b.peerId, { tags: { kept: { value: 1 } } })
    expect((await a.peerStore.get(b.peerId)).tags.get('kept')?.value).toBe(1)
  })

  it('takes a protocol the entry lacks, an entry deleted, and an entry trusted too long to the store', async () => {
    const skipped = () => protocolMergeStats(a)!.skipped
    /** Opens streams until one is answered from memory: the peer's entry is remembered. */
    const remembered = async () => {
      for (let i = 0, from = skipped(); i < 10 && skipped() === from; i++) await openOnce()
    }
    await remembered()
    // A protocol the remembered entry does not hold.
    let before = skipped()
    await a.peerStore.merge(b.peerId, { protocols: ['/new/1'] })
    expect(skipped()).toBe(before)
    expect(await recorded(a, b)).toEqual(expect.arrayContaining(['/new/1', PROTOCOL]))
    // A deleted entry (the store tells no one) is made again by the next stream.
    await remembered()
    await a.peerStore.delete(b.peerId)
    before = skipped()
    await openOnce()
    expect(skipped()).toBe(before)
    expect(await recorded(a, b)).toContain(PROTOCOL)
    // Past the trust window, one merge goes to the store again (it keeps the entry from expiring).
    await remembered()
    before = skipped()
    const later = Date.now() + PROTOCOL_MERGE_TRUST_MS + 1
    const clock = vi.spyOn(Date, 'now').mockReturnValue(later)
    try {
      await openOnce()
      expect(skipped()).toBe(before)
      await openOnce()
      expect(skipped()).toBe(before + 1)
    } finally {
      clock.mockRestore()
    }
  })

  it('forgets a peer once its last connection closes', async () => {
    await openOnce()
    const before = protocolMergeStats(a)!.skipped
    expect(protocolMergeStats(a)!.peers).toBe(1)
    await a.hangUp(b.peerId)
    await expect.poll(() => a.getConnections(b.peerId).length).toBe(0)
    await expect.poll(() => protocolMergeStats(a)!.peers).toBe(0)
    await openOnce()
    expect(protocolMergeStats(a)!.skipped).toBe(before)
    await connected()
    const again = protocolMergeStats(a)!.skipped
    for (let i = 0; i < 5; i++) await openOnce()
    expect(protocolMergeStats(a)!.skipped - again).toBeGreaterThanOrEqual(3)
  })
})
