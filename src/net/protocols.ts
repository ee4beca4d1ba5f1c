import { MAX_FRAME_BYTES, MAX_REQUEST_JSON_FRAME_BYTES } from './frames.js'

/**
 * One libp2p protocol id per operation (docs/protocol.md "Protocols"): multistream-select picks the
 * operation, so a stream carries exactly one exchange and needs no message-type field. Public ids are
 * served by any node's StorageEngine (clients); `replica/*` ids by a node's NodeService to the other
 * eligible nodes only.
 */
export const PROTOCOL_PREFIX = '/qfs/storage'
export const PROTOCOL_VERSION = '1.0.0'

function id(name: string, version = PROTOCOL_VERSION): string {
  return `${PROTOCOL_PREFIX}/${name}/${version}`
}

export const PROTOCOLS = {
  write: id('write'),
  read: id('read'),
  getProof: id('get_proof'),
  listObjects: id('list_objects'),
  replicaPush: id('replica/push'),
  // 1.1.0: commits carry the homes' acceptances (`acceptances`; a home answers its `acceptance`).
  replicaCommit: id('replica/commit', '1.1.0'),
  replicaAbort: id('replica/abort'),
  replicaRecord: id('replica/record'),
  replicaManifest: id('replica/manifest'),
  replicaFetch: id('replica/fetch'),
  replicaProve: id('replica/prove'),
  // 1.1.0: a listing may end with the non-matching entry where the node's scan budget stopped.
  // 1.2.0: `max_bytes`; a listing may end after the record that reaches it.
  replicaList: id('replica/list', '1.2.0'),
  // 1.1.0: `stage` carries several shards ({shards: [...]}, answered {staged: [...]}).
  // 1.2.0: `commit` as replica/commit 1.1.0 (the homes' acceptances).
  replicaRpc: id('replica/rpc', '1.2.0'),
} as const

export type ProtocolName = keyof typeof PROTOCOLS

/**
 * Streams not bounded by one request deadline: those that carry content or shard bytes, and the
 * long-lived replica channel. The others are one small request and its answer.
 */
export const DATA_PROTOCOLS: ReadonlySet<ProtocolName> = new Set([
  'write',
  'read',
  'replicaPush',
  'replicaFetch',
  'replicaRpc',
])

/**
 * A replica channel's server waits this many idle timeouts for the next request: longer than the
 * client, which closes a quiet channel after one, so a request never meets a channel closing under it.
 */
export const RPC_SERVER_IDLE_FACTOR = 4
/**
 * How long a server waits, after refusing a peer outside the eligible set, for that peer to close
 * its end (it gets the ERROR frame first; docs/protocol.md section 3) before resetting the stream.
 */
export const REFUSAL_DRAIN_MS = 1_000
/**
 * A replica/push stream may be kept open by KEEPALIVE frames alone for this many idle timeouts
 * (15 min by default, the staging sweep's age) and then fails TIMEOUT: the coordinator's wait on its
 * client is bounded, and a stream that no longer brings blocks must not hold a slot for good.
 */
export const PUSH_KEEPALIVE_IDLE_FACTOR = 30
/**
 * The shortest period at which a coordinator sends KEEPALIVE frames on a push (a quarter of its idle
 * timeout, never less than this).
 */
export const MIN_KEEPALIVE_PERIOD_MS = 50
/**
 * More KEEPALIVE frames than this within one second end a push with FRAME_INVALID: a coordinator
 * sends at most one per MIN_KEEPALIVE_PERIOD_MS (20 a second), and only while the stream takes
 * bytes at once, so more is a flood (each costs the replica a decode and nothing else bounds them
 * short of the 30 idle timeouts).
 */
export const MAX_KEEPALIVES_PER_SECOND = 64
export const PUBLIC_PROTOCOLS: ReadonlySet<ProtocolName> = new Set([
  'write',
  'read',
  'getProof',
  'listObjects',
])

export interface Limits {
  /** Largest frame accepted (type byte plus body); at most MAX_FRAME_BYTES. */
  maxFrameBytes: number
  /** Largest JSON request frame a server accepts; at most maxFrameBytes (answers use maxFrameBytes). */
  maxRequestFrameBytes: number
  /** Longest silence between two frames of one stream, or wait for the peer to take our bytes. */
  idleTimeoutMs: number
  /** Deadline of a small exchange: opening the stream, the request and its whole answer. */
  requestTimeoutMs: number
  /** Concurrent inbound streams per connection for each data protocol. */
  maxInboundDataStreams: number
  /**
   * Concurrent inbound `replica/push` streams, and `replica/fetch` streams, per peer across all its
   * connections (NODE_BUSY beyond): the per-connection cap alone lets one key open connections
   * until the node runs out of memory. A coordinator at its default caps pushes (32 writes) or
   * fetches (32 reads, every shard asked at once) at most 32 x 4 streams to one node; twice that
   * leaves room for exchanges still finishing and for peers configured with higher caps.
   */
  maxDataStreamsPerPeer: number
  /**
   * Public streams a node lets wait for their request at once, across all peers; one more is
   * refused at once with NODE_BUSY. Each waiting stream costs the node about 14 KB of heap, and
   * nothing else bounded them but each connection's stream limits: 14 key-less connections of
   * silent streams (about 7,000) ran a node out of heap in an adversarial session.
   */
  maxStreamsAwaitingRequest: number
  /** Concurrent inbound streams per connection for each small protocol. */
  maxInboundSmallStreams: number
  /** Concurrent outbound streams per connection for each protocol. */
  maxOutboundStreams: number
  /** Largest `content_size` a public write may announce. */
  maxContentBytes: number
  /** Public writes this node coordinates at once; one more is refused at once with NODE_BUSY. */
  maxConcurrentWrites: number
  /**
   * Public listings this node coordinates at once; one more is refused at once with NODE_BUSY. Each
   * holds up to LIST_BYTES_PER_PAGE (4 MiB) of records from the nodes it asks until its page is sent.
   */
  maxConcurrentListings: number
  /**
   * Public reads this node serves at once; one more is refused at once with NODE_BUSY. A read holds
   * its read-ahead and send buffers (a few MiB) until its client takes the bytes or the read's
   * minimum rate ends it, so without a cap a client that opens reads and never reads them sets the
   * node's memory.
   */
  maxConcurrentReads: number
  /**
   * Public `get_proof` exchanges this node serves at once; one more is refused at once with
   * NODE_BUSY. Each holds its answer, a base64 block of up to about 350 KB at the default block
   * size, as an object and as its encoded frame until its client takes it (or the idle timeout, then
   * the stream is reset): without a cap, 600 unread answers over 3 key-less connections ran a node
   * out of heap.
   */
  maxConcurrentProofs: number
  /**
   * Once a public write has kept the node waiting for its content longer than writeMinDeadlineMs
   * plus 1 s per writeMinBytesPerSecond bytes it delivered, it fails with WRITE_TOO_SLOW: the idle
   * timeout alone lets a client trickling a byte now and then hold a write slot for days.
   */
  writeMinDeadlineMs: number
  writeMinBytesPerSecond: number
  /**
   * Once a public read has kept the node waiting for its client to take the content longer than
   * readMinDeadlineMs plus 1 s per readMinBytesPerSecond bytes it took, it fails with READ_TOO_SLOW
   * and frees its slot: the idle timeout alone bounds each wait only, so a client granting window
   * now and then (or never) would hold a read slot for as long as it likes.
   */
  readMinDeadlineMs: number
  readMinBytesPerSecond: number
  /**
   * When every read (or write) slot is taken, a newcomer from another network address may take a
   * slot of an address whose exchanges have lately kept the node waiting this long in all (or the
   * minimum rate's grace, if shorter) while they moved less than 16 times the minimum rate, provided
   * that address holds at least two slots more than the newcomer's (net/slot-share.ts). Without it,
   * one address reopening slow reads kept most slots although the minimum rate failed every one.
   */
  yieldAfterWaitMs: number
}

/**
 * The waiting an exchange must have cost the node before its slot can go to a client from another
 * address (AdmissionRule.yieldAfterMs): `yieldAfterWaitMs`, or the grace if that is shorter, since a
 * client has had its hearing once it used up the grace.
 */
export function yieldAfterMs(limits: Partial<Pick<Limits, 'yieldAfterWaitMs'>>, graceMs: number): number {
  return Math.min(limits.yieldAfterWaitMs ?? DEFAULT_LIMITS.yieldAfterWaitMs, graceMs)
}

/**
 * The slots of a listing or proof cap one address may hold at once: half, rounded up. Those slots
 * are spent on the nodes a coordinator asks, never waiting on the client, so they cannot move to a
 * newcomer as read slots do (4.3); half keeps room for other clients while one address is busy.
 */
export function perAddressShare(cap: number): number {
  return Math.ceil(cap / 2)
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxFrameBytes: MAX_FRAME_BYTES,
  maxRequestFrameBytes: MAX_REQUEST_JSON_FRAME_BYTES,
  idleTimeoutMs: 30_000,
  requestTimeoutMs: 10_000,
  maxInboundDataStreams: 64,
  maxDataStreamsPerPeer: 256,
  maxStreamsAwaitingRequest: 512,
  maxInboundSmallStreams: 256,
  maxOutboundStreams: 256,
  maxContentBytes: 64 * 1024 * 1024 * 1024,
  maxConcurrentWrites: 32,
  maxConcurrentListings: 4,
  maxConcurrentReads: 32,
  maxConcurrentProofs: 16,
  writeMinDeadlineMs: 60_000,
  writeMinBytesPerSecond: 64 * 1024,
  readMinDeadlineMs: 60_000,
  readMinBytesPerSecond: 64 * 1024,
  yieldAfterWaitMs: 10_000,
})

/** Checks caller-supplied limits; a bad value is a programming error (TypeError), not wire input. */
export function resolveLimits(partial: Partial<Limits> = {}): Limits {
  const limits = { ...DEFAULT_LIMITS, ...partial }
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1)
      throw new TypeError(`limit ${key} must be a positive integer`)
  }
  if (limits.maxFrameBytes > MAX_FRAME_BYTES)
    throw new TypeError(`maxFrameBytes must be at most ${MAX_FRAME_BYTES}`)
  // A node configured with smaller frames bounds its requests by that too.
  limits.maxRequestFrameBytes = Math.min(limits.maxRequestFrameBytes, limits.maxFrameBytes)
  return limits
}
