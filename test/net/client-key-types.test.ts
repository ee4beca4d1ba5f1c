/**
 * docs/protocol.md section 1, "A client's identity": a client needs a libp2p key for the Noise
 * handshake only, and nodes accept Ed25519 and secp256k1 keys (the peer id plays no part in the
 * public protocols). A client written with a secp256k1 key, as many Ethereum-side libraries have,
 * must get its calls served like any other.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { QfsClient } from '../../src/sdk/client.js'
import { nodeAddress } from '../sdk/harness.js'
import { type Libp2pNetwork, libp2pHarness } from './harness.js'

describe("a client's key type (docs/protocol.md section 1)", () => {
  let net: Libp2pNetwork
  const dialers: Libp2p[] = []
  beforeAll(async () => {
    net = await libp2pHarness(4)
  })
  afterAll(async () => {
    await Promise.all(dialers.map((d) => d.stop()))
    await net?.close()
  })

  it.each(['Ed25519', 'secp256k1'] as const)(
    'serves a client whose key is %s: write, read, list',
    async (type) => {
      const dialer = await createQfsLibp2p({ privateKey: await generateKeyPair(type), listen: [] })
      dialers.push(dialer)
      expect(dialer.peerId.type).toBe(type)
      const client = await QfsClient.create({ node: nodeAddress(net, net.nodeIds[1]!), libp2p: dialer })
      try {
        const id = objectId('key-types', type)
        const put = await client.putContent(id, 1, new Uint8Array([1, 2, 3]), {
          author_node_id: 'key-test',
          created_at_tick: 1,
        })
        expect(put).toMatchObject({ ok: true, version: 1 })
        const got = await client.getContent(id, 1)
        expect(got.ok && [...got.content_bytes]).toEqual([1, 2, 3])
        expect(await client.listObjects({ prefix: id })).toMatchObject({
          ok: true,
          objects: [{ object_id: id }],
        })
      } finally {
        await client.close()
      }
    },
  )

  it('a QfsClient given no libp2p node dials with a fresh Ed25519 identity of its own (docs/sdk.md)', async () => {
    const node = net.libp2p.get(net.nodeIds[2]!)!
    const peersBefore = new Set([
      ...net.nodeIds,
      ...node.getConnections().map((c) => c.remotePeer.toString()),
    ])
    const seen: string[] = []
    for (let i = 0; i < 2; i++) {
      const client = await QfsClient.create({ node: nodeAddress(net, net.nodeIds[2]!) })
      try {
        expect((await client.listObjects({ limit: 1 })).ok).toBe(true)
        const fresh = node.getConnections().filter((c) => !peersBefore.has(c.remotePeer.toString()))
        expect(fresh.map((c) => c.remotePeer.type)).toEqual(['Ed25519'])
        seen.push(fresh[0]!.remotePeer.toString())
        peersBefore.add(seen.at(-1)!)
      } finally {
        await client.close()
      }
    }
    expect(new Set(seen).size).toBe(2)
  })
})
