import { peerIdFromString } from '@libp2p/peer-id'
import { CODE_P2P, isMultiaddr, type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { InvalidInputError } from '../core/errors.js'

/** A node the client talks to: where to dial, and who must answer (Noise authenticates the peer id). */
export interface NodeAddress {
  multiaddr: Multiaddr
  /** The node id: the libp2p peer id named by the address's last `/p2p/` component. */
  peerId: string
}

/**
 * Checks a node's multiaddr. It must name the peer (`.../p2p/<peer id>`): libp2p then refuses a
 * connection to anyone else at that address, so a client never talks to a node it did not name.
 */
export function parseNodeAddress(node: unknown): NodeAddress {
  let addr: Multiaddr
  if (typeof node === 'string') {
    // multiaddr('') is '/', which would be reported as an address naming no peer.
    if (node.trim() === '')
      throw new InvalidInputError('the node address is empty: give /ip4/…/tcp/…/p2p/<peer id>')
    try {
      addr = multiaddr(node)
    } catch (err) {
      throw new InvalidInputError(`${JSON.stringify(node)} is not a multiaddr`, { cause: err })
    }
  } else if (isMultiaddr(node)) {
    addr = node
  } else {
    throw new InvalidInputError('node must be a multiaddr')
  }
  const named = addr.getComponents().findLast((c) => c.code === CODE_P2P)?.value
  if (named === undefined) {
    throw new InvalidInputError(`${addr.toString()} names no peer: add /p2p/<peer id>`)
  }
  try {
    return { multiaddr: addr, peerId: peerIdFromString(named).toString() }
  } catch (err) {
    throw new InvalidInputError(`${named} is not a libp2p peer id`, { cause: err })
  }
}
