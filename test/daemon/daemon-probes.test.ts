import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type RunningNode, startNode } from '../../src/daemon/daemon.js'
import { PROBE_TIMEOUT_MS } from '../../src/daemon/peer-prober.js'
import { writeSnapshotFile } from '../../src/daemon/snapshot-file.js'
import { configOf, type Member, members, removeRoot, signed } from './snapshot-fixture.js'

/**
 * What the daemon wires around libp2p for its peers: the peers gauge and `/v1/status` count peers,
 * not connections; the prober pings connected peers of the snapshot only; and a probe waits no
 * longer than a request would. Three real daemons: A and B listed in the snapshot, C not; C holds
 * two connections to A (a dial forced past the one it had), A one to B.
 */

const REQUEST_TIMEOUT_MS = 50
const WAIT = { timeout: 20_000, interval: 20 }

let root = ''
let ms: Member[] = []
const nodes: RunningNode[] = []
/** Every probe A sent: to whom, and for B (which never answers) how long until it was given up. */
const pinged: string[] = []
const givenUpAfterMs: number[] = []

beforeAll(async () => {
  ;({ root, members: ms } = await members('daemon-probes', 3))
  const snapshot = signed(0, [ms[0]!.entry, ms[1]!.entry])
  for (const [i, m] of ms.entries()) {
    const config = await configOf(
      m,
      i === 0
        ? {
            'limits.probe_interval_ms': '50',
            'limits.request_timeout_ms': String(REQUEST_TIMEOUT_MS),
          }
        : { 'limits.probe_interval_ms': '0' },
    )
    await writeSnapshotFile(config.snapshot, snapshot)
    nodes.push(await startNode(config, {}))
  }
  const [a, b, c] = nodes as [RunningNode, RunningNode, RunningNode]
  // B stands for a frozen peer: A's pings to it are never answered, only given up.
  const ping = a.libp2p.services.ping as {
    ping: (peer: unknown, options: { signal: AbortSignal }) => Promise<number>
  }
  const real = ping.ping.bind(ping)
  ping.ping = (peer, options) => {
    const id = String(peer)
    pinged.push(id)
    if (id !== b.nodeId) return real(peer, options)
    const sent = performance.now()
    return new Promise((_, reject) =>
      options.signal.addEventListener(
        'abort',
        () => {
          givenUpAfterMs.push(performance.now() - sent)
          reject(options.signal.reason)
        },
        { once: true },
      ),
    )
  }
  // C's two connections first, then A's to B: every probe of B comes with C connected.
  const aAddr = multiaddr(a.multiaddrs()[0]!)
  await c.libp2p.dial(aAddr)
  await c.libp2p.dial(aAddr, { force: true })
  await a.libp2p.dial(multiaddr(b.multiaddrs()[0]!))
}, 60_000)

afterAll(async () => {
  for (const n of nodes) await n.stop().catch(() => {})
  await removeRoot(root)
})

describe('the daemon and its peers', () => {
  it('counts peers, not connections, in qfs_peers and /v1/status', async () => {
    const a = nodes[0]!
    const connections = a.libp2p.getConnections()
    // The case that tells them apart: three connections, two peers (the oracle: distinct peer ids).
    expect(connections).toHaveLength(3)
    const peers = new Set(connections.map((c) => c.remotePeer.toString()))
    expect(peers).toEqual(new Set([nodes[1]!.nodeId, nodes[2]!.nodeId]))
    expect((await a.status()).peers).toBe(2)
    expect(await a.metrics.registry.metrics()).toMatch(/^qfs_peers 2$/m)
  })

  it('probes only connected peers of the snapshot, and gives a silent one up within the request timeout', async () => {
    const [a, b, c] = nodes as [RunningNode, RunningNode, RunningNode]
    await vi.waitFor(() => expect(givenUpAfterMs.length).toBeGreaterThanOrEqual(3), WAIT)
    expect(pinged).toContain(b.nodeId)
    expect(pinged).not.toContain(c.nodeId)
    expect(pinged).not.toContain(a.nodeId)
    // The 2 s default holds each probe at least that long (a timer never fires early); at a 50 ms
    // request timeout a probe is given up after about 50 ms: half the default is 20 times that.
    for (const ms of givenUpAfterMs) expect(ms).toBeLessThan(PROBE_TIMEOUT_MS / 2)
  })
})
