import type { ConnectionGater, MultiaddrConnection } from '@libp2p/interface'
import { sourceOf } from './source-address.js'

/** What one source may hold of a node's inbound connections (libp2p-node.ts InboundConnectionLimits). */
export interface SourceConnectionLimits {
  /** Inbound connections from one source, upgrading or open, at once. */
  perHost: number
  /** Inbound connections from one source still in their Noise/yamux upgrade at once. */
  pendingPerHost: number
}

interface Held {
  all: number
  upgrading: number
}

/**
 * A connection gater that refuses an inbound connection (a TCP reset before any handshake byte)
 * once its source (net/source-address.ts: an IPv4 address, an IPv6 /48) holds `perHost`
 * connections, or `pendingPerHost` still upgrading. libp2p's own caps are per node, not per source:
 * 296 idle connections from one address filled its 300 and every client of every other address was
 * reset for as long as they stayed open, and 64 silent TCP sockets, renewed as the 10 s upgrade
 * timeout ended them (6 a second), held every upgrade slot. Counted from the TCP accept to the
 * socket's close, so a refused or failed connection gives its place back at once.
 */
export function sourceConnectionGater(limits: SourceConnectionLimits): ConnectionGater {
  const held = new Map<string, Held>()
  const upgrading = new WeakMap<MultiaddrConnection, () => void>()
  return {
    denyInboundConnection: (maConn) => {
      if (maConn.status !== 'open') return true
      const source = sourceOf(maConn.remoteAddr)
      const h = held.get(source) ?? { all: 0, upgrading: 0 }
      if (h.all >= limits.perHost || h.upgrading >= limits.pendingPerHost) return true
      h.all++
      h.upgrading++
      held.set(source, h)
      let upgraded = false
      const endUpgrade = () => {
        if (upgraded) return
        upgraded = true
        h.upgrading--
      }
      upgrading.set(maConn, endUpgrade)
      maConn.addEventListener(
        'close',
        () => {
          endUpgrade()
          h.all--
          if (h.all === 0) held.delete(source)
        },
        { once: true },
      )
      return false
    },
    denyInboundUpgradedConnection: (_peer, maConn) => {
      upgrading.get(maConn)?.()
      return false
    },
  }
}
