import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import type { QfsClient } from '../../src/sdk/client.js'
import { bytesOf } from '../engine/suite.js'
import type { Libp2pNetwork } from '../net/harness.js'
import { networkClient } from './harness.js'

/**
 * A gateway's burst through one client: more calls at once than the node coordinates (32 writes,
 * 32 reads; one more is NODE_BUSY). The client's own slots keep the burst within them, so every
 * call is served, none refused.
 */
describe('a burst of calls through one client', () => {
  let net: Libp2pNetwork
  let client: QfsClient
  const BURST = 80
  const metadata = { author_node_id: 'burst', created_at_tick: 1 }
  const ids = Array.from({ length: BURST }, (_, i) => objectId('burst', `post-${i}`))
  const content = (i: number) => bytesOf(`burst-${i}`, 1024 + i)

  beforeAll(async () => {
    ;({ net, client } = await networkClient(4))
  })
  afterAll(async () => {
    await client?.close()
    await net?.close()
  })

  it(`stores ${BURST} objects started at once, then reads them all back at once`, async () => {
    const stored = await Promise.all(ids.map((id, i) => client.putContent(id, 1, content(i), metadata)))
    expect(stored.filter((a) => !a.ok)).toEqual([])
    const read = await Promise.all(ids.map((id) => client.getContent(id, 1)))
    for (const [i, answer] of read.entries()) {
      expect(answer.ok && Buffer.from(answer.content_bytes).equals(Buffer.from(content(i)))).toBe(true)
    }
    expect(client.load).toEqual({
      writes: { running: 0, waiting: 0 },
      reads: { running: 0, waiting: 0 },
      proofs: { running: 0, waiting: 0 },
      listings: { running: 0, waiting: 0 },
    })
  })
})
