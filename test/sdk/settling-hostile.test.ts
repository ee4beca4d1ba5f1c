import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { QfsClient } from '../../src/sdk/client.js'
import { testPeerKey } from '../net/harness.js'
import { type HostileNode, hostileNode } from './hostile.js'
import { fixture } from './stub.js'

// A node that provokes the SDK into asking a proof again (docs/sdk.md "Many calls at once"): it
// answers one proof out of the rules, which the client cuts short and which opens the 2 s window,
// then refuses every proof NODE_BUSY. The caller's signal still ends the call at its deadline with
// the code an aborted call answers, and the attempt made after it does not reach the node.

const DEADLINE_MS = 300
const REFUSAL = {
  ok: false,
  error_code: 'SE_ERR_NO_ELIGIBLE_NODES',
  error_detail: 'this node is ending other calls',
  code: 'NODE_BUSY',
  storage_event_id: null,
}

describe('a proof asked again by a node that keeps refusing it', () => {
  let node: HostileNode
  let dialer: Awaited<ReturnType<typeof createQfsLibp2p>>
  let client: QfsClient
  const f = fixture('settling-hostile', 4096)
  const shardId = f.record.shards[0]!.shard_id as string
  /** When (ms since the epoch) each proof request reached the node. */
  const requests: number[] = []

  beforeAll(async () => {
    node = await hostileNode(2620)
    dialer = await createQfsLibp2p({ privateKey: await testPeerKey(2621), listen: [] })
    client = await QfsClient.create({
      node: node.address,
      libp2p: dialer,
      timeouts: { requestMs: 1_000, idleMs: 1_000 },
    })
  })
  afterAll(async () => {
    await client?.close()
    await dialer?.stop()
    await node?.close()
  })

  it('ends at the caller deadline with NODE_UNAVAILABLE, and asks nothing of the node after it', async () => {
    // An answer out of the rules: the client resets the stream, which opens the window.
    await node.answer(PROTOCOLS.getProof, (fs) => fs.writeJson({ ok: true, no: 'proof' }))
    const broken = await client.fetchStorageProof(f.oid, 1, shardId)
    expect(broken).toMatchObject({ ok: false, code: 'NODE_UNAVAILABLE' })

    await node.answer(PROTOCOLS.getProof, async (fs) => {
      requests.push(Date.now())
      await fs.writeJson(REFUSAL)
    })
    const deadline = AbortSignal.timeout(DEADLINE_MS)
    let abortedAt = 0
    deadline.addEventListener('abort', () => (abortedAt = Date.now()))
    const started = Date.now()
    const answer = await client.fetchStorageProof(f.oid, 1, shardId, { signal: deadline })
    const ended = Date.now()

    expect(answer).toMatchObject({ ok: false, code: 'NODE_UNAVAILABLE', storage_event_id: null })
    expect(deadline.aborted).toBe(true)
    // Asked more than once: the window the broken answer opened was open.
    expect(requests.length).toBeGreaterThan(1)
    // It ends at the deadline, not at the end of the window (2 s) nor of a full pause after it.
    expect(ended - started).toBeGreaterThanOrEqual(DEADLINE_MS - 5)
    // (Bounds loose enough for a loaded machine: the window would end about 1.7 s after the deadline.)
    expect(ended - abortedAt).toBeLessThan(1000)
    await new Promise((r) => setTimeout(r, 300))
    // A request sent just before the abort may reach the node just after it; none comes later.
    expect(requests.filter((at) => at > abortedAt + 200)).toEqual([])
    expect(client.load.proofs).toEqual({ running: 0, waiting: 0 })
  })

  it("lets a NODE_BUSY reach the caller at once, with the node's own words, when nothing was cut", async () => {
    // A second client of the same node: the first one's window is not its.
    const other = await QfsClient.create({ node: node.address, libp2p: dialer })
    try {
      const before = requests.length
      const answer = await other.fetchStorageProof(f.oid, 1, shardId)
      expect(answer).toEqual(REFUSAL)
      expect(requests.length - before).toBe(1)
    } finally {
      await other.close()
    }
  })
})
