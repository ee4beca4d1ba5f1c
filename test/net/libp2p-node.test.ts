import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import { createQfsLibp2p, libp2pLogger } from '../../src/net/libp2p-node.js'

const PROTOCOL = '/qfs-test/libp2p-node/1'

describe('createQfsLibp2p (net/libp2p-node.ts)', () => {
  const started: Libp2p[] = []
  afterEach(async () => {
    await Promise.all(started.splice(0).map((n) => n.stop()))
  })
  async function node(init: { listen?: string[]; announce?: string[]; start?: boolean } = {}) {
    const n = await createQfsLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      listen: init.listen ?? ['/ip4/127.0.0.1/tcp/0'],
      announce: init.announce,
      start: init.start,
    })
    started.push(n)
    return n
  }

  it('announces the configured addresses instead of the listen addresses', async () => {
    const n = await node({ announce: ['/ip4/203.0.113.7/tcp/4001'] })
    expect(n.getMultiaddrs().map((a) => a.toString().split('/p2p/')[0])).toEqual([
      '/ip4/203.0.113.7/tcp/4001',
    ])
  })

  it('stays stopped when asked not to start', async () => {
    const n = await node({ start: false })
    expect(n.status).toBe('stopped')
    expect(n.getMultiaddrs()).toEqual([])
  })

  it('bounds every stream at a 4 MiB receive window', async () => {
    const a = await node()
    const b = await node({ listen: [] })
    await a.handle(PROTOCOL, () => {})
    const stream = await b.dialProtocol(a.getMultiaddrs()[0]!, PROTOCOL)
    // The yamux stream's own field (the library's 16 MiB default would let a peer park 4x more).
    expect((stream as unknown as { maxStreamWindowSize: number }).maxStreamWindowSize).toBe(4 * 1024 * 1024)
    stream.abort(new Error('done'))
  })

  it("allows two pings at once on one connection (libp2p's monitor and the node's own probes)", async () => {
    const a = await node()
    const b = await node({ listen: [] })
    const addr = a.getMultiaddrs()[0]!
    await b.dial(addr)
    const pings = await Promise.allSettled([b.services.ping.ping(addr), b.services.ping.ping(addr)])
    expect(pings.map((p) => p.status)).toEqual(['fulfilled', 'fulfilled'])
  })
})

describe('libp2pLogger', () => {
  it("is silent unless DEBUG names something, and libp2p's own when it does", () => {
    const silent = libp2pLogger({})
    expect(silent).toBeDefined()
    expect(silent!.forComponent('x').enabled).toBe(false)
    expect(libp2pLogger({ DEBUG: '' })).toBe(silent)
    expect(libp2pLogger({ DEBUG: 'libp2p:*' })).toBeUndefined()
  })
})
