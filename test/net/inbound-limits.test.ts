import { connect, type Socket } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createQfsLibp2p,
  DEFAULT_INBOUND_LIMITS,
  type InboundConnectionLimits,
} from '../../src/net/libp2p-node.js'

/**
 * Every CLI command and every short-lived gateway client is a fresh libp2p node, hence a fresh
 * connection from the same host; the server must take a burst of them.
 */
describe('inbound connection admission', () => {
  const started: Libp2p[] = []
  const sockets: Socket[] = []
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy()
    await Promise.all(started.splice(0).map((n) => n.stop()))
  })

  async function server(
    inbound?: InboundConnectionLimits,
    isMember?: (peerId: string) => boolean,
    membersAt?: (source: string) => number,
  ): Promise<Libp2p> {
    const node = await createQfsLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      inbound,
      isMember,
      membersAt,
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
    const got = await burst(await server({ ...DEFAULT_INBOUND_LIMITS, perHostPerSecond: 3 }), 8)
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

  /** A ping from a fresh client whose connections leave from `localAddress`. */
  async function pingFrom(target: Libp2p, localAddress: string): Promise<string> {
    const client = await createQfsLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      listen: [],
      localAddress,
    })
    started.push(client)
    try {
      await client.services.ping.ping(target.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(5_000) })
      return 'ok'
    } catch (err) {
      return (err as Error).name
    }
  }

  it('keeps connections for other addresses when one address holds as many idle ones as it may', async () => {
    // libp2p's own cap is 300 per node: 296 idle connections from one address once reset every
    // client of every other address for as long as they stayed open.
    const target = await server({ perHostPerSecond: 1000, maxPending: 64, perHost: 8 })
    const addr = target.getMultiaddrs()[0]!
    const hog = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
    started.push(hog)
    let opened = 0
    for (let i = 0; i < 12; i++) {
      try {
        await hog.dial(addr, { force: true, signal: AbortSignal.timeout(5_000) })
        opened++
      } catch {}
    }
    expect(opened).toBe(8)
    expect(target.getConnections().length).toBe(8)
    expect(await pingFrom(target, '127.0.0.2')).toBe('ok')
    // Closing its connections gives the address its places back.
    await Promise.all(hog.getConnections().map((c) => c.close()))
    await waitFor(() => target.getConnections().length === 1)
    expect(await pingFrom(target, '127.0.0.1')).toBe('ok')
  })

  it('leaves upgrade slots to other addresses while one address holds silent TCP connections', async () => {
    // 64 silent sockets from one address, renewed as the upgrade timeout ended them, once held
    // every upgrade slot: every other client was reset.
    const target = await server({ perHostPerSecond: 1000, maxPending: 8, perHost: 64 })
    const { host, port } = tcpOf(target)
    for (let i = 0; i < 8; i++) {
      const s = connect({ host, port, localAddress: '127.0.0.1' })
      s.on('error', () => {})
      sockets.push(s)
    }
    await Promise.all(sockets.map((s) => new Promise((r) => (s.connecting ? s.once('connect', r) : r(null)))))
    // The sockets past the address's half are reset by the node; the first 4 stay open and silent.
    await new Promise((r) => setTimeout(r, 300))
    expect(sockets.filter((s) => !s.destroyed && s.readyState === 'open').length).toBe(4)
    expect(await pingFrom(target, '127.0.0.2')).toBe('ok')
  })

  it('keeps upgrade slots for members’ addresses while other addresses hold every shared one', async () => {
    // Two addresses with silent sockets at their half of the upgrade slots, renewed as the upgrade
    // timeout ends them, refused every new connection, a restarted node's too.
    const target = await server(
      { perHostPerSecond: 1000, maxPending: 8, perHost: 64 },
      undefined,
      (source) => (source === '127.0.0.5' ? 1 : 0),
    )
    const { host, port } = tcpOf(target)
    for (const localAddress of ['127.0.0.2', '127.0.0.3']) {
      for (let i = 0; i < 4; i++) {
        const s = connect({ host, port, localAddress })
        s.on('error', () => {})
        sockets.push(s)
      }
    }
    await Promise.all(sockets.map((s) => new Promise((r) => (s.connecting ? s.once('connect', r) : r(null)))))
    await new Promise((r) => setTimeout(r, 300))
    expect(sockets.filter((s) => !s.destroyed && s.readyState === 'open').length).toBe(8)
    expect(await pingFrom(target, '127.0.0.4')).not.toBe('ok')
    expect(await pingFrom(target, '127.0.0.5')).toBe('ok')
  })

  it('keeps the slots for members’ addresses from being held by one of those addresses', async () => {
    // Whoever is behind a member's address (its NAT, its IPv6 /48, a local client beside a devnet's
    // nodes) shares that source: at half of all upgrade slots per source it held every kept one
    // with silent sockets, and with two other addresses holding the shared slots every other
    // member was refused again.
    const target = await server(undefined, undefined, (source) =>
      source === '127.0.0.5' || source === '127.0.0.6' ? 1 : 0,
    )
    const { host, port } = tcpOf(target)
    const silent = async (localAddress: string, count: number) => {
      const mine: Socket[] = []
      for (let i = 0; i < count; i++) {
        const s = connect({ host, port, localAddress })
        s.on('error', () => {})
        mine.push(s)
      }
      sockets.push(...mine)
      await Promise.all(mine.map((s) => new Promise((r) => (s.connecting ? s.once('connect', r) : r(null)))))
      await new Promise((r) => setTimeout(r, 300))
      return mine.filter((s) => !s.destroyed && s.readyState === 'open').length
    }
    const half = DEFAULT_INBOUND_LIMITS.maxPending / 2
    expect(await silent('127.0.0.2', half)).toBe(half)
    expect(await silent('127.0.0.3', half)).toBe(half)
    // A member's address takes a member's few kept slots, not all of them.
    expect(await silent('127.0.0.5', half)).toBe(4)
    expect(await pingFrom(target, '127.0.0.4')).not.toBe('ok')
    expect(await pingFrom(target, '127.0.0.6')).toBe('ok')
  })

  /** A node whose connections leave from `localAddress`, and how many of `count` new ones it got. */
  async function connections(target: Libp2p, localAddress: string, count: number, privateKey?: PrivateKey) {
    const node = await createQfsLibp2p({
      privateKey: privateKey ?? (await generateKeyPair('Ed25519')),
      listen: [],
      localAddress,
    })
    started.push(node)
    let opened = 0
    for (let i = 0; i < count; i++) {
      try {
        const c = await node.dial(target.getMultiaddrs()[0]!, {
          force: true,
          signal: AbortSignal.timeout(5_000),
        })
        // A connection the server refuses after the handshake may look open here for a moment.
        await new Promise((r) => setTimeout(r, 50))
        if (c.status === 'open') opened++
      } catch {}
    }
    return { node, opened }
  }

  it('keeps room for the eligible nodes when clients of many addresses hold every client connection', async () => {
    // Five addresses at the per-host cap once filled libp2p's 300 and shut the other nodes out.
    const memberKey = await generateKeyPair('Ed25519')
    const memberId = peerIdFromPrivateKey(memberKey).toString()
    const target = await server(
      { perHostPerSecond: 1000, maxPending: 64, perHost: 4, clients: 6 },
      (id) => id === memberId,
    )
    expect((await connections(target, '127.0.0.2', 4)).opened).toBe(4)
    expect((await connections(target, '127.0.0.3', 4)).opened).toBe(2)
    expect(await pingFrom(target, '127.0.0.4')).not.toBe('ok')
    // A member gets in, up to its own cap, and its connections leave its address's count.
    const member = await connections(target, '127.0.0.5', 6, memberKey)
    expect(member.opened).toBe(4)
    await member.node.services.ping.ping(target.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(5_000) })
    // Clients that leave give their places back.
    await Promise.all(
      target
        .getConnections()
        .filter((c) => c.remotePeer.toString() !== memberId)
        .map((c) => c.close()),
    )
    expect(await pingFrom(target, '127.0.0.5')).toBe('ok')
  })
})

function tcpOf(node: Libp2p): { host: string; port: number } {
  const parts = node.getMultiaddrs()[0]!.toString().split('/')
  return { host: parts[2]!, port: Number(parts[4]) }
}

async function waitFor(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) await new Promise((r) => setTimeout(r, 50))
}
