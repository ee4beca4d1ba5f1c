/**
 * docs/protocol.md section 1, "Streams the node opens to a client": the node opens identify right
 * after the connection is up, and libp2p's connection monitor pings every connection about every 10 s
 * and closes the whole connection when that stream gets no answer; `na` (a protocol the client does
 * not serve) keeps the connection, and a client that accepts the ping stream and never answers loses
 * it. The Python client was written to the first rule; this pins all three on a real node (about 25 s).
 */
import type { Libp2p } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import { nodeAndBareClients } from './harness.js'

const ID = '/ipfs/id/1.0.0'
const PING = '/ipfs/ping/1.0.0'

describe('streams a node opens to a client (docs/protocol.md section 1)', () => {
  const net = nodeAndBareClients()

  it('opens identify at once, pings within about 10 s, keeps a client that answers na, drops one that never answers', {
    timeout: 40_000,
  }, async () => {
    const [refusing, silent] = [await net.bareClient(), await net.bareClient()]
    const opened: { who: string; protocol: string; at: number }[] = []
    const start = Date.now()
    // The refusing client serves nothing but records identify (then drops it): pings get `na`.
    await refusing.handle(ID, (stream) => {
      opened.push({ who: 'refusing', protocol: ID, at: Date.now() - start })
      stream.abort(new Error('not served'))
    })
    // The silent one takes the ping stream and never answers it.
    await silent.handle(PING, () => {
      opened.push({ who: 'silent', protocol: PING, at: Date.now() - start })
    })
    const addr = net.node.getMultiaddrs()
    await Promise.all([refusing.dial(addr), silent.dial(addr)])
    const connected = (c: Libp2p) =>
      c.getConnections(net.node.peerId).filter((x) => x.status === 'open').length
    const silentGone = new Promise<number>((resolve) => {
      silent.addEventListener('connection:close', () => resolve(Date.now() - start))
    })
    const dropped = await Promise.race([
      silentGone,
      new Promise<number>((r) => setTimeout(() => r(-1), 30_000)),
    ])
    const identify = opened.find((o) => o.who === 'refusing' && o.protocol === ID)
    expect(identify?.at).toBeLessThan(2_000)
    const ping = opened.find((o) => o.who === 'silent' && o.protocol === PING)
    // The monitor's interval runs from the node's start, a moment before the connection.
    expect(ping?.at).toBeLessThan(15_000)
    // Dropped after its unanswered ping, within the monitor's timeout.
    expect(dropped).toBeGreaterThan(ping!.at)
    expect(dropped - ping!.at).toBeLessThan(12_000)
    // Pinged as often and refused each time with `na`, the other client kept its connection.
    expect(connected(refusing)).toBe(1)
    expect(connected(silent)).toBe(0)
  })
})
