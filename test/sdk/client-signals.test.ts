import type { Libp2p, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StorageClient } from '../../src/net/client.js'
import { WriteOutcomeUnknownError } from '../../src/net/errors.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { openStreams, testPeerKey } from '../net/harness.js'
import { type HostileNode, hostileNode } from './hostile.js'
import { fixture } from './stub.js'

// The wire client (StorageClient) against a node that takes a request and never answers: the
// caller's signal must end the wait for the answer at once, whatever the call, and what the
// client opened is let go. The client's idle timeout (30 s here) is never what ends these calls.

const f = fixture('client-signals', 10)
const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([
    p.then(
      (v) => ({ settled: 'resolved' as const, v }),
      (err: unknown) => ({ settled: 'rejected' as const, err }),
    ),
    new Promise<{ settled: 'late' }>((r) => setTimeout(() => r({ settled: 'late' }), ms)),
  ])

describe('StorageClient and a node that never answers', () => {
  let node: HostileNode
  let dialer: Libp2p
  let client: StorageClient
  /** Streams of `protocol` from the client still open. */
  const open = (protocol: string): Stream[] => openStreams(dialer, protocol)

  beforeAll(async () => {
    node = await hostileNode(2300)
    const silent = async () => new Promise<void>(() => {})
    await node.answer(PROTOCOLS.getProof, silent)
    await node.answer(PROTOCOLS.listObjects, silent)
    // The write's content is taken to its END; the answer never comes.
    node.behaviour.store = () => new Promise(() => {})
    dialer = await createQfsLibp2p({ privateKey: await testPeerKey(2301), listen: [] })
    client = new StorageClient(
      { libp2p: dialer },
      { limits: { idleTimeoutMs: 30_000, requestTimeoutMs: 30_000 } },
    )
  })

  afterAll(async () => {
    await dialer?.stop()
    await node?.close()
  })

  it("ends a get_proof waiting for its answer at the caller's abort", async () => {
    const signal = AbortSignal.timeout(200)
    const request = { object_id: f.oid, version: 1, shard_id: f.record.shards[0]!.shard_id, leaf_index: 0 }
    const outcome = await within(client.getProof(multiaddr(node.address), request, { signal }), 5_000)
    expect(outcome.settled).toBe('rejected')
    expect(open(PROTOCOLS.getProof)).toEqual([])
  })

  it("ends a list_objects waiting for its answer at the caller's abort", async () => {
    const signal = AbortSignal.timeout(200)
    const outcome = await within(client.list(multiaddr(node.address), {}, { signal }), 5_000)
    expect(outcome.settled).toBe('rejected')
    expect(open(PROTOCOLS.listObjects)).toEqual([])
  })

  it("ends a write waiting for its answer at the caller's abort: its outcome is unknown", async () => {
    const signal = AbortSignal.timeout(300)
    const request = { object_id: f.oid, version: 1, metadata: f.metadata as never }
    const outcome = await within(client.put(multiaddr(node.address), request, f.content, { signal }), 5_000)
    expect(outcome).toMatchObject({ settled: 'rejected' })
    expect((outcome as { err: unknown }).err).toBeInstanceOf(WriteOutcomeUnknownError)
    expect(open(PROTOCOLS.write)).toEqual([])
  })
})
