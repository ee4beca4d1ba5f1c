import type { Libp2p, Peer, PeerId } from '@libp2p/interface'

/** Peers whose recorded protocols are remembered at most; beyond, the memory starts over. */
const MAX_PEERS = 4096
/**
 * How long a remembered entry is trusted; then one merge goes to the store again. A merge refreshes
 * the entry's `updated` time, which keeps a connected peer's entry from expiring (the store drops an
 * entry not updated for hours, without an event), and re-creates an entry dropped that way.
 */
export const PROTOCOL_MERGE_TRUST_MS = 60_000

/** How often merges were answered without the peer store (for tests and diagnostics). */
export interface ProtocolMergeStats {
  skipped: number
  /** Peers whose protocols are remembered now. */
  readonly peers: number
}

const installed = new WeakMap<Libp2p, ProtocolMergeStats>()

/** The counts of a node `skipRepeatedProtocolMerges` was installed on. */
export function protocolMergeStats(node: Libp2p): ProtocolMergeStats | undefined {
  return installed.get(node)
}

/**
 * libp2p records a stream's protocol in the remote peer's entry of its peer store each time a stream
 * opens, at both ends (`peerStore.merge(peer, {protocols: [protocol]})` in its connection code): a
 * write lock, a datastore read, a protobuf decode and a comparison that, for a protocol already
 * recorded, finds nothing to write. That is about 0.2 ms of CPU per stream at each end here, and every
 * public request opens a stream. This remembers, per peer, the protocols its entry held after such a
 * merge, and answers a merge of protocols it already holds without the store.
 *
 * Any change to the peer's entry (`peer:update`: identify, an address, a removed protocol), its
 * deletion, the peer's last connection closing and PROTOCOL_MERGE_TRUST_MS passing forget the peer,
 * so the next merge goes to the store again: the entry always ends up holding every protocol a
 * stream opened with, as without this. A merge of anything but protocols always goes to the store,
 * and a merge's answer is not remembered if the store changed any entry while it ran. If the node
 * has no `peerStore.merge` (a later libp2p), nothing is changed.
 */
export function skipRepeatedProtocolMerges(node: Libp2p): ProtocolMergeStats {
  const known = new Map<string, { protocols: ReadonlySet<string>; peer: Peer; at: number }>()
  /** Counts what made the node forget a peer: a merge answered across one is not remembered. */
  let changes = 0
  const stats: ProtocolMergeStats = {
    skipped: 0,
    get peers() {
      return known.size
    },
  }
  const store = node.peerStore as { merge?: unknown }
  if (typeof store.merge !== 'function' || installed.has(node)) return installed.get(node) ?? stats
  installed.set(node, stats)
  const merge = (store.merge as Libp2p['peerStore']['merge']).bind(node.peerStore)
  const forget = (peer: PeerId) => {
    known.delete(peer.toString())
    changes++
  }
  node.addEventListener('peer:update', (evt) => forget(evt.detail.peer.id))
  node.addEventListener('peer:disconnect', (evt) => forget(evt.detail))
  // The store deletes without an event.
  const remove = node.peerStore.delete.bind(node.peerStore)
  node.peerStore.delete = async (id, options) => {
    forget(id)
    await remove(id, options)
  }
  store.merge = async (
    id: PeerId,
    data: Parameters<typeof merge>[1],
    options?: Parameters<typeof merge>[2],
  ) => {
    const protocols = onlyProtocols(data)
    const key = id.toString()
    const held = protocols === undefined ? undefined : known.get(key)
    const now = Date.now()
    if (
      held !== undefined &&
      now - held.at < PROTOCOL_MERGE_TRUST_MS &&
      protocols!.every((p) => held.protocols.has(p))
    ) {
      stats.skipped++
      return held.peer
    }
    const before = changes
    const peer = await merge(id, data, options)
    if (protocols === undefined || changes !== before) {
      known.delete(key)
    } else {
      if (known.size >= MAX_PEERS) known.clear()
      known.set(key, { protocols: new Set(peer.protocols), peer, at: now })
    }
    return peer
  }
  return stats
}

/** The protocols of a merge that sets nothing else, or undefined. */
function onlyProtocols(data: unknown): string[] | undefined {
  if (data === null || typeof data !== 'object') return undefined
  const keys = Object.keys(data)
  if (keys.length !== 1 || keys[0] !== 'protocols') return undefined
  const protocols = (data as { protocols: unknown }).protocols
  return Array.isArray(protocols) && protocols.every((p) => typeof p === 'string') ? protocols : undefined
}
