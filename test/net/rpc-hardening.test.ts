import type { Libp2p } from '@libp2p/interface'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import type { NodeService } from '../../src/engine/node-service.js'
import type { FrameStream } from '../../src/net/frame-stream.js'
import { encodeJsonFrame } from '../../src/net/frames.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { RpcChannels } from '../../src/net/rpc-client.js'
import { type StorageProtocolService, storageProtocol } from '../../src/net/service.js'
import { Libp2pTransport } from '../../src/net/transport.js'
import { openStreams, testPeerKey } from './harness.js'

/**
 * The replica channel against peers that misbehave over time (a reader that stops reading, a peer
 * that leaves the eligible set) and a node that stops, and the client's promise not to send what
 * its caller gave up on.
 */
const SHARD = 'ab'.repeat(32)
const OID = objectId('rpc-hardening', 'x')

describe('replica channel hardening', () => {
  const nodes: Libp2p[] = []
  const services: StorageProtocolService[] = []
  afterEach(async () => {
    await Promise.all(services.splice(0).map((s) => s.stop()))
    await Promise.all(nodes.splice(0).map((n) => n.stop()))
  })

  async function pair(node: NodeService, eligible: () => boolean = () => true) {
    const server = await createQfsLibp2p({
      privateKey: await testPeerKey(60),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    const client = await createQfsLibp2p({ privateKey: await testPeerKey(61), listen: [] })
    nodes.push(server, client)
    const service = storageProtocol({
      node,
      isEligiblePeer: () => eligible(),
      limits: { idleTimeoutMs: 250, requestTimeoutMs: 2_000 },
    })({ registrar: server })
    await service.start()
    services.push(service)
    const rpcStreams = () => openStreams(server, PROTOCOLS.replicaRpc)
    return { server, client, service, rpcStreams }
  }

  /** The client's transport to the server, and the server's node id. */
  function clientOf(client: Libp2p, server: Libp2p) {
    const transport = new Libp2pTransport(
      { libp2p: client, resolve: () => server.getMultiaddrs() },
      { limits: { idleTimeoutMs: 5_000, requestTimeoutMs: 2_000 } },
    )
    return { transport, target: server.peerId.toString() }
  }

  it('fails the channel when its replies cannot be written, and stops serving it', async () => {
    let fetches = 0
    const node = {
      async *fetchShard() {
        fetches++
        yield new Uint8Array(256 * 1024).fill(fetches & 0xff)
      },
    } as unknown as NodeService
    const { server, client, rpcStreams } = await pair(node)
    const stream = await client.dialProtocol(server.getMultiaddrs(), PROTOCOLS.replicaRpc)
    stream.pause() // reads no reply, ever
    let id = 1
    const send = (n: number) => {
      for (let i = 0; i < n; i++)
        for (const part of encodeJsonFrame({
          id: id++,
          op: 'fetch',
          body: { shard_id: SHARD, from_block: 0 },
        }))
          stream.send(part)
    }
    send(100)
    // The replies fill the window, the next write waits out the server's idle timeout, and the
    // channel fails: the server ends the stream and runs nothing more of it.
    await vi.waitFor(() => expect(rpcStreams()).toHaveLength(0), { timeout: 8_000, interval: 100 })
    const ran = fetches
    expect(ran).toBeLessThan(100)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(fetches).toBe(ran)
    // The peer's end is closed too: nothing more can be asked on that stream.
    await vi.waitFor(() => expect(stream.status).not.toBe('open'), { timeout: 5_000, interval: 50 })
  })

  it('answers a record lookup while a hundred commits wait for the write lock (they use another channel)', async () => {
    let release!: () => void
    const lock = new Promise<void>((resolve) => {
      release = resolve
    })
    let waiting = 0
    let serverId = ''
    const node = {
      getRecord: async () => undefined,
      commitVersion: async () => {
        waiting++
        await lock
        return { node_id: serverId, event_id: null, idempotent: true, home: true, shard_ids: [] }
      },
    } as unknown as NodeService
    const { server, client, rpcStreams } = await pair(node)
    serverId = server.peerId.toString()
    const { transport, target } = clientOf(client, server)
    try {
      const commits = Array.from({ length: 100 }, () =>
        transport.commitVersion(target, { record: {} as never, staged: [] }).catch((e: unknown) => e),
      )
      // The server runs 64 of them and stops reading their channel.
      await vi.waitFor(() => expect(waiting).toBe(64), { timeout: 5_000, interval: 20 })
      expect(await transport.getRecord(target, OID, 1)).toBeUndefined()
      expect(rpcStreams()).toHaveLength(2)
      release()
      const answers = await Promise.all(commits)
      expect(answers.every((a) => (a as { idempotent?: boolean }).idempotent === true)).toBe(true)
      expect(waiting).toBe(100)
    } finally {
      release()
      transport.close()
    }
  })

  it('ends open channels when the node stops serving, and serves new ones once it is back', async () => {
    const node = { getRecord: async () => undefined } as unknown as NodeService
    const { server, client, service, rpcStreams } = await pair(node)
    const { transport, target } = clientOf(client, server)
    try {
      expect(await transport.getRecord(target, OID, 1)).toBeUndefined()
      expect(rpcStreams()).toHaveLength(1)
      await service.stop()
      // Without the drain the channel would stay open and go on taking requests.
      await vi.waitFor(() => expect(rpcStreams()).toHaveLength(0), { timeout: 5_000, interval: 50 })
      await expect(transport.getRecord(target, OID, 1)).rejects.toMatchObject({ code: 'NODE_UNAVAILABLE' })
      await service.start()
      expect(await transport.getRecord(target, OID, 1)).toBeUndefined()
    } finally {
      transport.close()
    }
  })

  it('refuses the next request of a peer that left the eligible set, on its open channel', async () => {
    let eligible = true
    const node = { getRecord: async () => undefined } as unknown as NodeService
    const { server, client } = await pair(node, () => eligible)
    const { transport, target } = clientOf(client, server)
    try {
      expect(await transport.getRecord(target, OID, 1)).toBeUndefined()
      eligible = false
      await expect(transport.getRecord(target, OID, 1)).rejects.toMatchObject({ code: 'NOT_ELIGIBLE' })
    } finally {
      transport.close()
    }
  })

  it('does not send a request its caller gave up on while it waited to be written', async () => {
    // A stream whose writes wait until the test opens it (a peer whose window is full).
    const written: unknown[] = []
    let open!: () => void
    const gate = new Promise<void>((resolve) => {
      open = resolve
    })
    const fs = {
      writeJsonWithData: async (value: unknown) => {
        written.push(value)
        await gate
      },
      read: () => new Promise(() => {}),
      abort: () => {},
    } as unknown as FrameStream
    const rpc = new RpcChannels(async () => fs, { requestTimeoutMs: 100, idleTimeoutMs: 10_000 })
    const first = rpc.request('n', 'record', { object_id: OID, version: 1 }).catch((e: unknown) => e)
    const second = rpc.request('n', 'prove', { shard_id: SHARD, leaf_index: 0 }).catch((e: unknown) => e)
    expect(await first).toMatchObject({ code: 'NODE_UNAVAILABLE' })
    expect(await second).toMatchObject({ code: 'NODE_UNAVAILABLE' })
    open()
    await new Promise((resolve) => setTimeout(resolve, 50))
    // The record request was on the stream already; the proof request, given up on before, never goes.
    expect(written.map((w) => (w as { op: string }).op)).toEqual(['record'])
    rpc.close()
  })
})
