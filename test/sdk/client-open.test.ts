import { createServer, type Server, type Socket } from 'node:net'
import type { Libp2p } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import { StorageClient } from '../../src/net/client.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { testPeerKey } from '../net/harness.js'
import { fixture, honestProof, stubNode } from './stub.js'

// Opening an exchange is bounded by the client's request timeout, not only by libp2p's own dial
// timeout (10 s): an address that takes the TCP connection and then says nothing fails the call
// NODE_UNAVAILABLE at the request timeout.

const f = fixture('client-open', 10)

describe('StorageClient opening an exchange to an address that accepts and never speaks', () => {
  let silent: Server
  const sockets: Socket[] = []
  let dialer: Libp2p
  let address: string

  beforeAll(async () => {
    silent = createServer((socket) => void sockets.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as { port: number }).port
    const peer = await createQfsLibp2p({ privateKey: await testPeerKey(2310), listen: [] })
    address = `/ip4/127.0.0.1/tcp/${port}/p2p/${peer.peerId.toString()}`
    await peer.stop()
    dialer = await createQfsLibp2p({ privateKey: await testPeerKey(2311), listen: [] })
  })

  afterAll(async () => {
    await dialer?.stop()
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => silent?.close(resolve))
  })

  it('fails at the request timeout', async () => {
    const client = new StorageClient({ libp2p: dialer }, { limits: { requestTimeoutMs: 300 } })
    const started = Date.now()
    const request = { object_id: f.oid, version: 1, shard_id: f.record.shards[0]!.shard_id, leaf_index: 0 }
    await expect(client.getProof(multiaddr(address), request)).rejects.toBeInstanceOf(NodeUnavailableError)
    expect(Date.now() - started).toBeLessThan(3_000)
  })
})

describe('StorageClient opening an exchange through a relay address', () => {
  it('never takes the relay for the node: an address ending in another peer is not the relay', async () => {
    const relay = await stubNode(2312)
    relay.behaviour.proof = () => honestProof(f, 0, 0)
    const target = peerIdFromPrivateKey(await testPeerKey(2313)).toString()
    const dialer = await createQfsLibp2p({ privateKey: await testPeerKey(2314), listen: [] })
    try {
      const client = new StorageClient({ libp2p: dialer }, { limits: { requestTimeoutMs: 2_000 } })
      const request = { object_id: f.oid, version: 1, shard_id: f.record.shards[0]!.shard_id, leaf_index: 0 }
      // A direct connection to the relay is open: it answers its own calls.
      expect(await client.getProof(multiaddr(relay.address), request)).toMatchObject({ ok: true })
      expect(dialer.getConnections().length).toBeGreaterThan(0)
      const through = multiaddr(`${relay.address}/p2p-circuit/p2p/${target}`)
      await expect(client.getProof(through, request)).rejects.toBeInstanceOf(NodeUnavailableError)
    } finally {
      await dialer.stop()
      await relay.close()
    }
  })
})
