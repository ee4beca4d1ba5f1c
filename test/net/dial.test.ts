import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { type Dialer, openExchange, type PeerTarget } from '../../src/net/dial.js'
import { resolveLimits } from '../../src/net/protocols.js'
import { testPeerKey } from './harness.js'

// A client names its node by multiaddr. Dialed that way on every call, libp2p parses the peer id
// and merges the address into its peer store each time; once connected, the peer is reached by id.

const limits = resolveLimits()

/** A dialer that records each target it is asked for and answers a stream nobody reads. */
function recordingDialer(
  connections: (peer: PeerId) => Array<Pick<Connection, 'status' | 'direct' | 'limits'>> | undefined,
) {
  const targets: PeerTarget[] = []
  const dialer: Dialer = {
    async dialProtocol(peer) {
      targets.push(peer)
      return { addEventListener() {}, removeEventListener() {} } as unknown as Stream
    },
  }
  const withConnections: Dialer = {
    ...dialer,
    getConnections: (peer) => (connections(peer!) ?? []) as Connection[],
  }
  return { targets, dialer, withConnections }
}

describe('openExchange', () => {
  it('reaches a peer it is connected to by id, and by the multiaddr otherwise', async () => {
    const id = peerIdFromPrivateKey(await testPeerKey(1)).toString()
    const addr = multiaddr(`/ip4/127.0.0.1/tcp/4001/p2p/${id}`)
    let status: Connection['status'] | undefined
    let direct = true
    let relayLimits: Connection['limits']
    const r = recordingDialer((peer) =>
      peer.equals(peerIdFromString(id)) && status ? [{ status, direct, limits: relayLimits }] : [],
    )
    const open = (d: Dialer, target: PeerTarget) => openExchange(d, target, '/p', limits, undefined, 'x')

    await open(r.withConnections, addr) // not connected yet
    status = 'open'
    await open(r.withConnections, addr)
    status = 'closed'
    await open(r.withConnections, addr)
    status = 'open'
    await open(r.dialer, addr) // a dialer that cannot tell
    const bare = multiaddr('/ip4/127.0.0.1/tcp/4001') // names no peer
    await open(r.withConnections, bare)
    await open(r.withConnections, [addr])
    // A relayed or limited connection is not reused as it is: the multiaddr is dialed.
    direct = false
    await open(r.withConnections, addr)
    direct = true
    relayLimits = { bytes: 1024n }
    await open(r.withConnections, addr)
    relayLimits = undefined
    await open(r.withConnections, addr)

    const kinds = r.targets.map((t) => (Array.isArray(t) ? 'list' : 'bytes' in t ? 'addr' : t.toString()))
    expect(kinds).toEqual(['addr', id, 'addr', 'addr', 'addr', 'list', 'addr', 'addr', id])
  })
})
