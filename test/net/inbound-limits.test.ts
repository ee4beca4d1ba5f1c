import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import { createQfsLibp2p, type InboundConnectionLimits } from '../../src/net/libp2p-node.js'

/**
 * Every CLI command and every short-lived gateway client is a fresh libp2p node, hence a fresh
 * connection from the same host; the server must take a burst of them.
 */
describe('inbound connection admission', () => {
  const started: Libp2p[] = []
  afterEach(async () => {
    await Promise.all(started.splice(0).map((n) => n.stop()))
  })

  async function server(inbound?: InboundConnectionLimits): Promise<Libp2p> {
    const node = await createQfsLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      inbound,
    })
    started.push(node)
    return node
  }

  /** Fresh clients all at once (as a busy gateway opens them), each pinging once; how many got through. */
  async function burst(target: Libp2p, clients: number): Promise<number> {
    const addr = target.getMultiaddrs()[0]!
    const nodes = await Promise.all(
      Array.from({ length: clients }, async () =>
        createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] }),
      ),
    )
    started.push(...nodes)
    const pings = await Promise.allSettled(
      nodes.map((n) => n.services.ping.ping(addr, { signal: AbortSignal.timeout(10_000) })),
    )
    return pings.filter((p) => p.status === 'fulfilled').length
  }

  it('accepts a burst of 20 new connections from one host by default', async () => {
    expect(await burst(await server(), 20)).toBe(20)
  })

  it('applies a configured per-host rate: a limit of 3 per second refuses part of the burst', async () => {
    const got = await burst(await server({ perHostPerSecond: 3, maxPending: 64 }), 8)
    expect(got).toBeGreaterThanOrEqual(3)
    expect(got).toBeLessThan(8)
  })

  it('serves a new client that opens 40 streams at once on its first connection', async () => {
    const target = await server()
    const protocol = '/qfs-test/echo/1.0.0'
    await target.handle(
      protocol,
      async (stream) => {
        for await (const chunk of stream) stream.send(chunk.subarray())
        await stream.close()
      },
      { maxInboundStreams: 64 },
    )
    const client = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
    started.push(client)
    const addr = target.getMultiaddrs()[0]!
    // No connection exists yet: every stream below is opened while the first one is being set up.
    const echoes = await Promise.allSettled(
      Array.from({ length: 40 }, async (_, i) => {
        const stream = await client.dialProtocol(addr, protocol, { signal: AbortSignal.timeout(10_000) })
        stream.send(Uint8Array.of(i))
        await stream.close()
        const got: number[] = []
        for await (const chunk of stream) got.push(...chunk.subarray())
        return got
      }),
    )
    expect(echoes.map((e) => (e.status === 'fulfilled' ? e.value : String(e.reason)))).toEqual(
      Array.from({ length: 40 }, (_, i) => [i]),
    )
  })
})
