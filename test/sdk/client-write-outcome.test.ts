import type { Libp2p, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import { StorageClient } from '../../src/net/client.js'
import type { Dialer } from '../../src/net/dial.js'
import { WriteOutcomeUnknownError } from '../../src/net/errors.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { testPeerKey } from '../net/harness.js'
import { fixture } from './stub.js'

// A write whose bytes never left is a definite failure (NODE_UNAVAILABLE), never
// WRITE_OUTCOME_UNKNOWN: here the node resets the write stream as it opens, and the client is
// handed the stream only once the reset has arrived, so its one send fails.

const f = fixture('client-write-outcome', 10)

describe('StorageClient, a write stream reset before its first byte', () => {
  let node: Libp2p
  let dialer: Libp2p
  let address: string

  beforeAll(async () => {
    node = await createQfsLibp2p({ privateKey: await testPeerKey(2330), listen: ['/ip4/127.0.0.1/tcp/0'] })
    await node.handle(PROTOCOLS.write, (stream) => stream.abort(new Error('go away')))
    address = `${node.getMultiaddrs()[0]!.toString()}`
    dialer = await createQfsLibp2p({ privateKey: await testPeerKey(2331), listen: [] })
  })

  /** A dialer that hands the client its stream only once the node has reset it. */
  const lateDialer = (): Dialer => ({
    dialProtocol: async (peer, protocols, options) => {
      const stream: Stream = await dialer.dialProtocol(peer, protocols, options)
      if (stream.status === 'open')
        await new Promise((resolve) => stream.addEventListener('close', resolve, { once: true }))
      return stream
    },
  })

  afterAll(async () => {
    await dialer?.stop()
    await node?.stop()
  })

  it('fails NODE_UNAVAILABLE, not WRITE_OUTCOME_UNKNOWN, for content given whole', async () => {
    const client = new StorageClient({ libp2p: lateDialer() })
    const request = { object_id: f.oid, version: 1, metadata: f.metadata as never }
    const err = await client.put(multiaddr(address), request, f.content).then(
      () => 'resolved',
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(NodeUnavailableError)
    expect(err).not.toBeInstanceOf(WriteOutcomeUnknownError)
  })
})
