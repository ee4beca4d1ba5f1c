import type { Connection, DialProtocolOptions, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { CODE_P2P, isMultiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { QfsError } from '../core/errors.js'
import { NodeUnavailableError } from '../engine/errors.js'
import { RemoteError } from './errors.js'
import { FrameStream } from './frame-stream.js'
import type { Limits } from './protocols.js'

/** What the transport and the client need of a libp2p node: opening a protocol stream. */
export interface Dialer {
  dialProtocol(
    peer: PeerId | Multiaddr | Multiaddr[],
    protocols: string | string[],
    options?: DialProtocolOptions,
  ): Promise<Stream>
  /** The open connections to a peer; when present, a peer already connected is reached by its id. */
  getConnections?(peer?: PeerId): Connection[]
}

export type PeerTarget = PeerId | Multiaddr | Multiaddr[]

/**
 * Opens one stream for one exchange. libp2p reuses the open connection to the peer when there is
 * one (connection manager: one connection per peer pair), so this costs a stream, not a dial.
 */
export async function openExchange(
  dialer: Dialer,
  target: PeerTarget,
  protocol: string,
  limits: Limits,
  signal: AbortSignal | undefined,
  who: string,
): Promise<FrameStream> {
  try {
    const stream = await dialer.dialProtocol(connectedPeer(dialer, target) ?? target, protocol, {
      signal,
      maxOutboundStreams: limits.maxOutboundStreams,
    })
    return new FrameStream(stream, { maxFrameBytes: limits.maxFrameBytes, idleMs: limits.idleTimeoutMs })
  } catch (err) {
    // libp2p's text (addresses tried, OS errors) stays in `cause`, for the logs only.
    throw new NodeUnavailableError(`cannot open ${protocol} to ${who}`, { cause: err })
  }
}

/** The peer each multiaddr object names with `/p2p/`, parsed once (null: it names none). */
const namedPeers = new WeakMap<Multiaddr, PeerId | null>()

/**
 * The peer a single multiaddr target names, if the dialer has a direct, unlimited connection to it.
 * Dialed by multiaddr, libp2p parses the address's peer id and merges the address into its peer
 * store on every call (about a quarter of a millisecond of CPU, a tenth of what a client spends on a
 * 4 KiB get); by id, it goes straight to the open connection. Without one the multiaddr itself is
 * dialed, so a client never depends on addresses the peer store learnt elsewhere.
 */
function connectedPeer(dialer: Dialer, target: PeerTarget): PeerId | undefined {
  if (dialer.getConnections === undefined || Array.isArray(target) || !isMultiaddr(target)) return undefined
  let peer = namedPeers.get(target)
  if (peer === undefined) {
    const named = target.getComponents().findLast((c) => c.code === CODE_P2P)?.value
    try {
      peer = named === undefined ? null : peerIdFromString(named)
    } catch {
      peer = null
    }
    namedPeers.set(target, peer)
  }
  if (peer === null) return undefined
  // Only a connection libp2p would reuse for a stream as it is: open, direct and not limited (a
  // relay's); for any other, the multiaddr lets libp2p dial the address it was given.
  const usable = (c: Connection) => c.status === 'open' && c.direct && c.limits === undefined
  return dialer.getConnections(peer).some(usable) ? peer : undefined
}

/**
 * A node id's dial target: its snapshot multiaddrs with `/p2p/<id>` (addresses naming another peer
 * are dropped), or the bare peer id when the snapshot lists none (an existing connection or the
 * peer store may still reach it).
 */
export function dialTarget(nodeId: string, addrs: readonly Multiaddr[]): PeerTarget {
  let peerId: PeerId
  try {
    peerId = peerIdFromString(nodeId)
  } catch (err) {
    throw new NodeUnavailableError(`node id ${nodeId} is not a libp2p peer id`, { cause: err })
  }
  const out: Multiaddr[] = []
  for (const addr of addrs) {
    const named = addr.getComponents().findLast((c) => c.code === CODE_P2P)?.value
    if (named === undefined) out.push(addr.encapsulate(`/p2p/${nodeId}`))
    else if (named === nodeId) out.push(addr)
  }
  return out.length > 0 ? out : peerId
}

export function describeTarget(target: PeerTarget): string {
  if (Array.isArray(target)) return target.map((a) => a.toString()).join(',')
  return target.toString()
}

/**
 * The caller's own content failed while a write was sending it: its iterator threw (a file that
 * could not be read, a generator's bug). The node is not to blame and no other node would do
 * better, so this is never turned into NODE_UNAVAILABLE. The write ended before its END frame, so
 * no node decided the version. The source's error is the `cause`.
 */
export class ContentSourceError extends QfsError {
  static readonly code = 'CONTENT_SOURCE_FAILED'
  constructor(
    message = 'the content source failed while the write was sending it: nothing was written',
    options?: ErrorOptions,
  ) {
    super(ContentSourceError.code, message, options)
  }
}

/**
 * Who is to blame for a failed exchange: the remote's own ERROR frame stays a RemoteError (its code
 * is a verdict, e.g. VERSION_CONFLICT), and the caller's failing content stays a ContentSourceError;
 * everything else (timeouts, resets, malformed answers) means the node could not serve, which the
 * coordinator handles by trying another replica.
 */
export function exchangeFailure(err: unknown, who: string): QfsError {
  if (err instanceof RemoteError || err instanceof NodeUnavailableError || err instanceof ContentSourceError)
    return err
  // Only our stable code in the message; libp2p's or the OS's text stays in `cause`, for the logs.
  const reason = err instanceof QfsError ? err.code : 'INTERNAL'
  return new NodeUnavailableError(`${who} did not answer properly (${reason})`, { cause: err })
}
