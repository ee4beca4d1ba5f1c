import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { canonicalBytes } from '../../src/core/canonical.js'
import { objectId } from '../../src/core/ids.js'
import type { NodeService } from '../../src/engine/node-service.js'
import type { NodeEntry } from '../../src/membership/types.js'
import { dialTarget, openExchange } from '../../src/net/dial.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { PROTOCOLS, resolveLimits } from '../../src/net/protocols.js'
import { RpcChannels } from '../../src/net/rpc-client.js'
import { MAX_SNAPSHOT_ANSWER_BYTES } from '../../src/net/rpc-messages.js'
import type { SnapshotSource } from '../../src/net/serve-replica.js'
import { storageProtocol } from '../../src/net/service.js'
import { Libp2pTransport } from '../../src/net/transport.js'
import { authority, signed } from '../daemon/snapshot-fixture.js'
import { openStreams, testPeerKey } from './harness.js'

/**
 * docs/protocol.md 4.14 `snapshot`: a node serves the epoch snapshots it holds to eligible peers on
 * the replica channel's read lane, NOT_FOUND for one it does not hold, and refuses per request what
 * would not fit a reply frame.
 */
const HELD = { epoch: 2, note: 'served as held, verified by the caller' }
const HUGE = { epoch: 1, padding: 'x'.repeat(MAX_SNAPSHOT_ANSWER_BYTES) }
/** Exactly the largest snapshot served: `{"epoch":3,"padding":""}` is 24 bytes. */
const LARGEST = { epoch: 3, padding: 'x'.repeat(MAX_SNAPSHOT_ANSWER_BYTES - 24) }
const held: SnapshotSource = { snapshotAt: (epoch) => ({ 1: HUGE, 2: HELD, 3: LARGEST })[epoch] }
/** The server's node: only `getRecord` is asked (to show the lane); it holds nothing. */
const node = { getRecord: async () => undefined } as unknown as NodeService

describe('replica/rpc snapshot', () => {
  const nodes: Libp2p[] = []
  const stops: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop()
    await Promise.all(nodes.splice(0).map((n) => n.stop()))
  })

  async function pair(snapshots: SnapshotSource | undefined, eligible = true) {
    const server = await createQfsLibp2p({
      privateKey: await testPeerKey(70),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    const client = await createQfsLibp2p({ privateKey: await testPeerKey(71), listen: [] })
    nodes.push(server, client)
    const service = storageProtocol({ node, snapshots, isEligiblePeer: () => eligible })({
      registrar: server,
    })
    await service.start()
    stops.push(async () => service.stop())
    const limits = resolveLimits({ requestTimeoutMs: 2_000 })
    const target = server.peerId.toString()
    const transport = new Libp2pTransport(
      { libp2p: client, resolve: () => server.getMultiaddrs() },
      { limits },
    )
    // The raw channel, to see the codes the transport turns into answers.
    const rpc = new RpcChannels(
      (id, signal) =>
        openExchange(
          client,
          dialTarget(id, server.getMultiaddrs()),
          PROTOCOLS.replicaRpc,
          limits,
          signal,
          id,
        ),
      limits,
    )
    stops.push(async () => {
      transport.close()
      rpc.close()
    })
    const rpcStreams = () => openStreams(server, PROTOCOLS.replicaRpc).length
    return { transport, rpc, target, rpcStreams }
  }

  it('answers a held epoch with its snapshot as held, on the lane of record lookups', async () => {
    const { transport, target, rpcStreams } = await pair(held)
    expect(await transport.getSnapshot(target, 2)).toEqual(HELD)
    expect(await transport.getRecord(target, objectId('rpc-snapshot', 'x'), 1)).toBeUndefined()
    // One channel carried both: the read lane (a write-lane op would have opened a second).
    expect(rpcStreams()).toBe(1)
  })

  it('answers NOT_FOUND for an epoch it does not hold, and for every epoch without a source', async () => {
    const { transport, rpc, target } = await pair(held)
    await expect(rpc.request(target, 'snapshot', { epoch: 0 })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      errorCode: 'SE_ERR_NOT_FOUND',
    })
    expect(await transport.getSnapshot(target, 0)).toBeUndefined()
    const bare = await pair(undefined)
    expect(await bare.transport.getSnapshot(bare.target, 2)).toBeUndefined()
  })

  it('refuses a bad body (INVALID_INPUT) and a snapshot too large for a reply (FRAME_TOO_LARGE), per request', async () => {
    const { transport, rpc, target, rpcStreams } = await pair(held)
    for (const body of [{}, { epoch: -1 }, { epoch: '2' }, { epoch: 2, extra: true }])
      await expect(rpc.request(target, 'snapshot', body)).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    await expect(rpc.request(target, 'snapshot', { epoch: 1 })).rejects.toMatchObject({
      code: 'FRAME_TOO_LARGE',
    })
    await expect(transport.getSnapshot(target, 1)).rejects.toMatchObject({ code: 'FRAME_TOO_LARGE' })
    // The channel went on: the next request on it is answered, up to the largest snapshot served.
    expect(await rpc.request(target, 'snapshot', { epoch: 2 })).toEqual({ body: { snapshot: HELD } })
    expect(canonicalBytes(LARGEST).length).toBe(MAX_SNAPSHOT_ANSWER_BYTES)
    expect(await transport.getSnapshot(target, 3)).toEqual(LARGEST)
    expect(rpcStreams()).toBe(2)
  })

  it('sizes the answer limit at about 250 nodes listed with one address each (a signed snapshot of 250 fits it, of 260 not)', async () => {
    const entries: NodeEntry[] = []
    for (let i = 0; i < 260; i++) {
      const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
      entries.push({
        node_id: id,
        multiaddrs: [`/ip4/203.0.113.7/tcp/4001/p2p/${id}`],
        mldsa_public_key: toHex(authority.publicKey),
      })
    }
    const size = (n: number) => canonicalBytes(signed(1, entries.slice(0, n))).length
    // About 4 KiB a node (its ML-DSA key is 3904 hex characters): 5 nodes are about 31 KB.
    expect(size(5)).toBeLessThan(32_000)
    expect(size(250)).toBeLessThanOrEqual(MAX_SNAPSHOT_ANSWER_BYTES)
    expect(size(260)).toBeGreaterThan(MAX_SNAPSHOT_ANSWER_BYTES)
  })

  it('serves no snapshot to a peer outside the eligible set (NOT_ELIGIBLE)', async () => {
    const { transport, target } = await pair(held, false)
    await expect(transport.getSnapshot(target, 2)).rejects.toMatchObject({ code: 'NOT_ELIGIBLE' })
  })
})
