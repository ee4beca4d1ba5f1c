/**
 * docs/protocol.md section 1: to reach node N, dial the multiaddrs the epoch snapshot lists for N,
 * each ending in `/p2p/<N>`; the dialer appends it when missing and refuses an address naming another
 * peer (which Noise would refuse anyway, after a wasted handshake).
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { dialTarget } from '../../src/net/dial.js'
import { qfsErrorCode as codeOf } from '../helpers/qfs-error-code.js'

const peer = async (seed: number) =>
  peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seed))).toString()

describe("a node's dial target (docs/protocol.md section 1)", () => {
  it('appends /p2p/<N> where missing, keeps it where present, and drops addresses naming another peer', async () => {
    const [n, other] = [await peer(1), await peer(2)]
    const target = dialTarget(n, [
      multiaddr('/ip4/10.0.0.1/tcp/4001'),
      multiaddr(`/ip4/10.0.0.2/tcp/4001/p2p/${n}`),
      multiaddr(`/ip4/10.0.0.3/tcp/4001/p2p/${other}`),
      multiaddr('/ip6/::1/tcp/4002'),
    ])
    expect(Array.isArray(target) && target.map((a) => a.toString())).toEqual([
      `/ip4/10.0.0.1/tcp/4001/p2p/${n}`,
      `/ip4/10.0.0.2/tcp/4001/p2p/${n}`,
      `/ip6/::1/tcp/4002/p2p/${n}`,
    ])
  })

  it('falls back to the bare peer id when every address names another peer', async () => {
    const [n, other] = [await peer(1), await peer(2)]
    const target = dialTarget(n, [multiaddr(`/ip4/10.0.0.3/tcp/4001/p2p/${other}`)])
    expect(Array.isArray(target)).toBe(false)
    expect(target.toString()).toBe(n)
  })

  it('refuses a node id that is no peer id (NODE_UNAVAILABLE)', () => {
    expect(codeOf(() => dialTarget('node-1', [multiaddr('/ip4/10.0.0.1/tcp/4001')]))).toBe('NODE_UNAVAILABLE')
  })
})
