/**
 * docs/sdk.md "Connecting": `node` ends in `/p2p/<peer id>`, and Noise then refuses any other peer at
 * that address. A client given node A's address with node B's peer id must not talk to A: every call
 * answers NODE_UNAVAILABLE, logged by no node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { QfsClient } from '../../src/sdk/index.js'
import { type Libp2pNetwork, libp2pHarness } from '../net/harness.js'

describe('a node address naming another peer (docs/sdk.md Connecting)', () => {
  let net: Libp2pNetwork
  beforeAll(async () => {
    net = await libp2pHarness(4)
  })
  afterAll(async () => {
    await net?.close()
  })

  it('reaches nobody: NODE_UNAVAILABLE, storage_event_id null', async () => {
    const [a, b] = net.nodeIds as [string, string]
    const atA = net.libp2p.get(a)!.getMultiaddrs()[0]!.toString().split('/p2p/')[0]!
    const logged = net.logEntries(a)
    const client = await QfsClient.create({ node: `${atA}/p2p/${b}`, timeouts: { requestMs: 3_000 } })
    try {
      expect(client.nodeId).toBe(b)
      const answer = await client.listObjects({ limit: 1 })
      expect(answer).toMatchObject({ ok: false, code: 'NODE_UNAVAILABLE', storage_event_id: null })
      expect(net.logEntries(a)).toBe(logged)
      // The same client code with A's own id is served: the address itself was good.
      const right = await QfsClient.create({ node: `${atA}/p2p/${a}` })
      try {
        expect((await right.listObjects({ limit: 1 })).ok).toBe(true)
      } finally {
        await right.close()
      }
    } finally {
      await client.close()
    }
  })
})
