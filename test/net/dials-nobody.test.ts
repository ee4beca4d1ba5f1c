/**
 * docs/protocol.md section 1: a node dials nobody on its own (no bootstrap list, DHT, mDNS, relay,
 * AutoNAT or UPnP); peers are found through the snapshot only. Its libp2p node runs identify and ping
 * and nothing else, and a peer it knows the address of is not dialled until something asks for it.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import { afterAll, describe, expect, it } from 'vitest'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'

describe('a node dials nobody on its own (docs/protocol.md section 1)', () => {
  const started: Libp2p[] = []
  const node = async () => {
    const n = await createQfsLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    started.push(n)
    return n
  }
  afterAll(async () => {
    await Promise.all(started.map((n) => n.stop()))
  })

  it('runs identify and ping, no discovery, relay or NAT service', async () => {
    expect(Object.keys((await node()).services).sort()).toEqual(['identify', 'ping'])
  })

  it('does not dial a peer whose address it holds until asked to', async () => {
    const [a, b] = [await node(), await node()]
    await a.peerStore.merge(b.peerId, { multiaddrs: b.getMultiaddrs() })
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect(a.getConnections()).toEqual([])
    expect(b.getConnections()).toEqual([])
    // Asked, it reaches the peer: the address it held was good.
    await a.services.ping.ping(b.peerId, { signal: AbortSignal.timeout(5_000) })
    expect(a.getConnections().map((c) => c.remotePeer.toString())).toEqual([b.peerId.toString()])
  })
})
