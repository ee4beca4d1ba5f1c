import type { ConnectionGater, MultiaddrConnection } from '@libp2p/interface'
import { sourceOf } from './source-address.js'

/** What one source may hold of a node's inbound connections (libp2p-node.ts InboundConnectionLimits). */
export interface SourceConnectionLimits {
  /** Inbound connections from one source, upgrading or open, at once. */
  perHost: number
  /** Inbound connections from one source still in their Noise/yamux upgrade at once. */
  pendingPerHost: number
  /** Inbound connections from peers that are no member, once their handshake named them, at once. */
  clients: number
  /** Inbound connections from one member at once. */
  perMember: number
  /** Whether a peer id is an eligible node of the epoch in force (its handshake proved the id). */
  isMember: (peerId: string) => boolean
  /** Inbound connections upgrading at once, all sources together (libp2p's own cap is this plus `memberPending`). */
  pending: number
  /**
   * Upgrades beyond `pending` taken only by connections from a member's address, when every other
   * upgrade slot is held: before its handshake a connection is known by its address alone.
   */
  memberPending: number
  /**
   * How many eligible nodes of the epoch in force have an address at a source (their snapshot
   * multiaddrs): a source takes at most `perMember` of the `memberPending` slots for each.
   */
  membersAt: (source: string) => number
}

/**
 * Inbound connections one member may hold. A node dials each peer once and reuses the connection;
 * a few more cover a simultaneous dial from both ends and a restart whose old connection has not
 * closed yet.
 */
export const CONNECTIONS_PER_MEMBER = 4

/**
 * Upgrade slots kept for connections from members' addresses. Two addresses holding their half of
 * the upgrade slots each with silent sockets, renewed as the upgrade timeout ends them, would
 * otherwise refuse every new connection of a node that restarts or lost its connection.
 */
export const MEMBER_PENDING_ROOM = 32

interface Held {
  all: number
  upgrading: number
  /** Of `upgrading`, those in the slots kept for members' addresses. */
  memberPool: number
}

/**
 * A connection gater that refuses an inbound connection (a TCP reset before any handshake byte)
 * once its source (net/source-address.ts: an IPv4 address, an IPv6 /48) holds `perHost`
 * connections, or `pendingPerHost` still upgrading. libp2p's own caps are per node, not per source:
 * 296 idle connections from one address filled its 300 and every client of every other address was
 * reset for as long as they stayed open, and 64 silent TCP sockets, renewed as the 10 s upgrade
 * timeout ended them (6 a second), held every upgrade slot. Counted from the TCP accept to the
 * socket's close, so a refused or failed connection gives its place back at once.
 *
 * Once the handshake names the peer, the eligible nodes of the epoch are kept apart from clients:
 * a member's connection leaves its address's count and takes one of the member's own
 * (`perMember`), and every other peer takes one of `clients`, so clients from any number of
 * addresses never fill the room nodes need to reach each other (writes, reads and repair all go
 * node to node). Five addresses at the per-host cap once filled libp2p's 300 and shut out the
 * other nodes of the network.
 */
export function sourceConnectionGater(limits: SourceConnectionLimits): ConnectionGater {
  const held = new Map<string, Held>()
  const upgrading = new WeakMap<MultiaddrConnection, () => void>()
  /** Gives a connection's place in its source's count back, once, however often called. */
  const sourcePlace = new WeakMap<MultiaddrConnection, () => void>()
  const members = new Map<string, number>()
  let clients = 0
  /** Upgrades under way in the shared slots, and in the slots kept for members' addresses. */
  const pools = { shared: 0, member: 0 }
  return {
    denyInboundConnection: (maConn) => {
      if (maConn.status !== 'open') return true
      const source = sourceOf(maConn.remoteAddr)
      const h = held.get(source) ?? { all: 0, upgrading: 0, memberPool: 0 }
      if (h.all >= limits.perHost || h.upgrading >= limits.pendingPerHost) return true
      let pool: keyof typeof pools
      if (pools.shared < limits.pending) pool = 'shared'
      // Per source, as many as its members need: anyone behind a member's address (its NAT, its
      // IPv6 /48, a local client on a devnet's loopback) shares that source, and with half of the
      // upgrade slots per source one such address would otherwise hold every kept slot.
      else if (
        pools.member < limits.memberPending &&
        h.memberPool < limits.perMember * limits.membersAt(source)
      )
        pool = 'member'
      else return true
      pools[pool]++
      if (pool === 'member') h.memberPool++
      h.all++
      h.upgrading++
      held.set(source, h)
      // A member's connection leaves `all` at its handshake, before its upgrade ends: the entry
      // goes only once both counts are back to zero.
      const forgetIfIdle = () => {
        if (h.all === 0 && h.upgrading === 0 && held.get(source) === h) held.delete(source)
      }
      let upgraded = false
      const endUpgrade = () => {
        if (upgraded) return
        upgraded = true
        h.upgrading--
        pools[pool]--
        if (pool === 'member') h.memberPool--
        forgetIfIdle()
      }
      upgrading.set(maConn, endUpgrade)
      let placed = true
      const leaveSource = () => {
        if (!placed) return
        placed = false
        h.all--
        forgetIfIdle()
      }
      sourcePlace.set(maConn, leaveSource)
      maConn.addEventListener(
        'close',
        () => {
          endUpgrade()
          leaveSource()
        },
        { once: true },
      )
      return false
    },
    denyInboundEncryptedConnection: (peerId, maConn) => {
      // A connection already closed has fired its 'close': a count taken now would never come back.
      if (maConn.status !== 'open') return true
      const id = peerId.toString()
      if (limits.isMember(id)) {
        const count = members.get(id) ?? 0
        if (count >= limits.perMember) return true
        members.set(id, count + 1)
        sourcePlace.get(maConn)?.()
        maConn.addEventListener(
          'close',
          () => {
            const left = (members.get(id) ?? 1) - 1
            if (left === 0) members.delete(id)
            else members.set(id, left)
          },
          { once: true },
        )
        return false
      }
      if (clients >= limits.clients) return true
      clients++
      maConn.addEventListener('close', () => void clients--, { once: true })
      return false
    },
    denyInboundUpgradedConnection: (_peer, maConn) => {
      upgrading.get(maConn)?.()
      return false
    },
  }
}
