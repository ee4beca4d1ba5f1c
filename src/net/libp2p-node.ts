import { type Identify, identify } from '@libp2p/identify'
import type { ComponentLogger, Libp2p, Logger, PrivateKey, ServiceMap } from '@libp2p/interface'
import { type Ping, ping } from '@libp2p/ping'
import type { TCPSocketOptions } from '@libp2p/tcp'
import { createLibp2p, type Libp2pOptions, type ServiceFactoryMap } from 'libp2p'
import { quietNoise } from './noise-decoder.js'
import { skipRepeatedProtocolMerges } from './protocol-merges.js'
import { CONNECTIONS_PER_MEMBER, MEMBER_PENDING_ROOM, sourceConnectionGater } from './source-connections.js'
import { coalescingTcp } from './tcp-writev.js'
import { lazyWindowYamux } from './yamux-window.js'

/**
 * Largest yamux receive window per stream (the library default is 16 MiB). What a window allows is
 * what the peer may send before we consume it: held in the connection's buffers at the sender and
 * in the paused stream at the receiver. 4 MiB still covers a loopback or LAN round trip many times
 * over at the speeds one node reaches, and keeps a node with a dozen busy streams well inside its
 * memory budget.
 */
export const MAX_STREAM_WINDOW_BYTES = 4 * 1024 * 1024

/**
 * Streams a peer may open on a new connection before this side has set the connection up (libp2p
 * holds them until its stream listener is attached, and aborts the whole connection beyond the
 * limit). The library default of 10 made a new client that starts ten calls at once lose all of
 * them, identify's stream counting too. Every stream is still subject to the per-protocol caps
 * once the connection is up; 128 covers a client's burst up to a node's public read and write caps
 * together (32 + 32 by default) twice over.
 */
export const MAX_EARLY_STREAMS = 128

/**
 * Inbound connection admission. libp2p's defaults (5 new connections per second per remote host,
 * 10 upgrading at once) suit a public DHT peer; a storage node serves gateways and CLIs that open
 * a fresh connection per command, often many from one host, and the default refuses the sixth
 * within a second with a bare TCP reset.
 */
export interface InboundConnectionLimits {
  /** New connections accepted per second from one remote host; more are reset. */
  perHostPerSecond: number
  /** Connections still in their Noise/yamux upgrade at once; more are reset. */
  maxPending: number
  /**
   * Connections from one source (an IPv4 address, an IPv6 /48: net/source-address.ts), upgrading or
   * open, at once; more are reset. libp2p's cap (300 connections per node) is not per source, so one
   * address could hold every connection a node accepts. A source may also hold at most half of
   * `maxPending` upgrading at once, so one cannot hold every upgrade slot either.
   */
  perHost: number
  /**
   * Connections from peers that are no eligible node (clients), at once, whatever their address
   * (default MAX_CLIENT_CONNECTIONS). Eligible nodes are counted apart (source-connections.ts).
   */
  clients?: number
}

/** Clients' connections a node holds at once: libp2p's own cap per node, now for clients alone. */
export const MAX_CLIENT_CONNECTIONS = 300

/**
 * Room in libp2p's cap for the eligible nodes' connections, above the clients': each member holds at
 * most CONNECTIONS_PER_MEMBER inbound, and a node dials each peer once. libp2p refuses an inbound
 * connection once the node holds its cap, before any gater knows who dials, so the cap itself must
 * leave the members room that clients cannot take.
 */
const MEMBER_CONNECTION_ROOM = 1024

export const DEFAULT_INBOUND_LIMITS: Readonly<InboundConnectionLimits> = Object.freeze({
  perHostPerSecond: 100,
  maxPending: 64,
  // A gateway or a CLI uses one connection at a time; 64 covers many of them behind one address
  // and leaves most of libp2p's 300 to other addresses.
  perHost: 64,
})

/**
 * libp2p's debug logging, off unless `DEBUG` names something (js-libp2p's own convention). Its
 * default logger builds a `debug` instance (and asks whether stderr is a terminal) for every
 * stream and connection even when nothing is enabled: measured as several percent of a node's CPU
 * under small requests. Our own logs go through pino and are unaffected.
 */
export function libp2pLogger(env: Readonly<Record<string, string | undefined>>): ComponentLogger | undefined {
  if (env.DEBUG !== undefined && env.DEBUG !== '') return undefined // libp2p's default, honouring DEBUG
  return SILENT_LOGGER
}

const silent: Logger = Object.assign(() => {}, {
  error: () => {},
  trace: () => {},
  enabled: false,
  newScope: (): Logger => silent,
})
const SILENT_LOGGER: ComponentLogger = { forComponent: () => silent }

export interface QfsLibp2pServices {
  identify: Identify
  ping: Ping
}

export interface QfsLibp2pInit<S extends ServiceMap = Record<string, never>> {
  /** The node's libp2p key: the peer id derived from it is the node id (`peerId.toString()`). */
  privateKey: PrivateKey
  /** Listen multiaddrs, e.g. `/ip4/0.0.0.0/tcp/4001` (`/tcp/0` picks a free port). */
  listen: string[]
  /** Addresses to announce instead of the listen addresses (a public address behind NAT). */
  announce?: string[]
  /** A metrics factory, e.g. `prometheusMetrics()` from @libp2p/prometheus-metrics. */
  metrics?: Libp2pOptions['metrics']
  /** Extra services (the storage protocol, for instance). */
  services?: ServiceFactoryMap<S>
  /** Inbound admission (default DEFAULT_INBOUND_LIMITS). */
  inbound?: InboundConnectionLimits
  /** Start listening at once (default true). */
  start?: boolean
  /**
   * The source address of outbound TCP connections (default: the operating system's choice). A
   * node shares its public slots out by the address a client connects from (net/admission.ts).
   */
  localAddress?: string
  /**
   * Whether a peer id is an eligible node of the epoch in force: its inbound connections do not count
   * as a client's (source-connections.ts). Default: none is.
   */
  isMember?: (peerId: string) => boolean
  /**
   * How many eligible nodes of the epoch in force have an address at a source
   * (net/source-address.ts): its connections may upgrade in slots kept for members, a few for each
   * (source-connections.ts). Default: none.
   */
  membersAt?: (source: string) => number
}

/**
 * The libp2p node of a QFS node (docs/protocol.md "Transport stack"): TCP, Noise XX, yamux,
 * identify and ping, and nothing that dials on its own: no bootstrap list, no DHT, no mDNS, no
 * relay, no AutoNAT or UPnP. Nodes find each other through the epoch snapshot's multiaddrs only.
 */
export async function createQfsLibp2p<S extends ServiceMap = Record<string, never>>(
  init: QfsLibp2pInit<S>,
): Promise<Libp2p<QfsLibp2pServices & S>> {
  const services = {
    ...(init.services ?? {}),
    identify: identify(),
    // Two outbound pings per connection: libp2p's connection monitor pings every connection and
    // aborts it when a ping fails, and the node's own probes (daemon/peer-prober.ts) ping too; with
    // the default of one, either could fail on the other's stream.
    ping: ping({ maxOutboundStreams: 2, maxInboundStreams: 4 }),
  } as unknown as ServiceFactoryMap<QfsLibp2pServices & S>
  const inbound = init.inbound ?? DEFAULT_INBOUND_LIMITS
  const clients = inbound.clients ?? MAX_CLIENT_CONNECTIONS
  const node = await createLibp2p<QfsLibp2pServices & S>({
    privateKey: init.privateKey,
    addresses: { listen: init.listen, announce: init.announce ?? [] },
    transports: [
      // `localAddress` reaches net.connect; @libp2p/tcp's option type names only some socket options.
      coalescingTcp(
        init.localAddress === undefined
          ? undefined
          : { dialOpts: { localAddress: init.localAddress } as TCPSocketOptions },
      ),
    ],
    connectionEncrypters: [quietNoise()],
    streamMuxers: [
      lazyWindowYamux({
        maxEarlyStreams: MAX_EARLY_STREAMS,
        streamOptions: { maxStreamWindowSize: MAX_STREAM_WINDOW_BYTES },
      }),
    ],
    peerDiscovery: [],
    connectionManager: {
      inboundConnectionThreshold: inbound.perHostPerSecond,
      maxIncomingPendingConnections: inbound.maxPending + MEMBER_PENDING_ROOM,
      maxConnections: clients + MEMBER_CONNECTION_ROOM,
    },
    connectionGater: sourceConnectionGater({
      perHost: inbound.perHost,
      pendingPerHost: Math.max(1, Math.floor(inbound.maxPending / 2)),
      clients,
      perMember: CONNECTIONS_PER_MEMBER,
      isMember: init.isMember ?? (() => false),
      pending: inbound.maxPending,
      memberPending: MEMBER_PENDING_ROOM,
      membersAt: init.membersAt ?? (() => 0),
    }),
    metrics: init.metrics,
    nodeInfo: { name: 'qfs-node' },
    logger: libp2pLogger(process.env),
    services,
    start: init.start ?? true,
  })
  skipRepeatedProtocolMerges(node)
  return node
}
