/**
 * The figures docs/protocol.md gives a client or node in another language (section 3's limits table,
 * and the bounds stated in 4.2 to 4.14), written here as the doc states them. The behaviour behind
 * each is tested elsewhere against the constant (often at a smaller configured value, to stay
 * fast); this file ties each constant to the documented figure, so a change to either fails.
 */
import { describe, expect, it } from 'vitest'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { MAX_ACCEPTANCE_SIGNATURE_CHARS, MAX_ACCEPTANCES } from '../../src/engine/acceptance.js'
import { DEFAULT_PAGE, LIST_BYTES_PER_PAGE, MAX_PAGE } from '../../src/engine/list.js'
import { MAX_FEE_EVENTS, MAX_TELEMETRY_NODE_ID_BYTES } from '../../src/engine/metadata-limits.js'
import { MAX_DETAIL_CHARS } from '../../src/engine/responses.js'
import { MAX_LIST_PAGE_BYTES } from '../../src/net/client.js'
import {
  DEFAULT_INBOUND_LIMITS,
  MAX_CLIENT_CONNECTIONS,
  MAX_EARLY_STREAMS,
} from '../../src/net/libp2p-node.js'
import { LEAF_HASHES_PER_FRAME, MAX_ABORT_IDS, MAX_STAGING_ID_CHARS } from '../../src/net/messages.js'
import {
  DEFAULT_LIMITS,
  MAX_KEEPALIVES_PER_SECOND,
  MIN_KEEPALIVE_PERIOD_MS,
  PUSH_KEEPALIVE_IDLE_FACTOR,
  perAddressShare,
  REFUSAL_DRAIN_MS,
  RPC_SERVER_IDLE_FACTOR,
} from '../../src/net/protocols.js'
import {
  MAX_INBOUND_RPC_CHANNELS,
  MAX_INLINE_SHARD_BYTES,
  MAX_RPC_ID,
  MAX_RPC_IN_FLIGHT,
  MAX_RPC_INLINE_BYTES_IN_FLIGHT,
  MAX_SNAPSHOT_ANSWER_BYTES,
  MAX_STAGE_SHARDS,
} from '../../src/net/rpc-messages.js'
import { CONNECTIONS_PER_MEMBER, MEMBER_PENDING_ROOM } from '../../src/net/source-connections.js'
import { replicaPreopenBytes, stallLimit } from '../../src/net/write-admission.js'
import {
  DEFAULT_LIST_LIMIT,
  MAX_LIST_ANSWER_BYTES,
  MAX_LIST_LIMIT,
  MAX_LIST_SCAN_ENTRIES,
} from '../../src/store/listing.js'

const KIB = 1024
const MIB = 1024 * KIB

describe('docs/protocol.md section 3 "Timeouts and limits" defaults', () => {
  it('are the node defaults, row by row', () => {
    expect(DEFAULT_LIMITS).toEqual({
      maxFrameBytes: 1_048_577, // max frame
      maxRequestFrameBytes: 262_145, // max JSON request frame
      idleTimeoutMs: 30_000, // idle timeout 30 s
      requestTimeoutMs: 10_000, // request timeout 10 s
      maxInboundDataStreams: 64, // 64 per data protocol
      maxDataStreamsPerPeer: 256, // replica/push, replica/fetch streams per peer: 256 each
      maxStreamsAwaitingRequest: 512, // public streams waiting for their request: 512 per node
      maxInboundSmallStreams: 256, // 256 per other protocol
      maxOutboundStreams: 256, // outbound streams per connection
      maxContentBytes: 64 * 1024 * MIB, // max content_size of a write: 64 GiB
      maxConcurrentWrites: 32,
      maxConcurrentListings: 4,
      maxConcurrentReads: 32,
      maxConcurrentProofs: 16,
      writeMinDeadlineMs: 60_000, // write content rate: 60 s, then 64 KiB per second
      writeMinBytesPerSecond: 64 * KIB,
      readMinDeadlineMs: 60_000, // read content rate: 60 s, then 64 KiB per second
      readMinBytesPerSecond: 64 * KIB,
      yieldAfterWaitMs: 10_000, // 4.3: at least 10 s of waiting before a slot moves
    })
  })

  it('give one address at most 8 of the 16 proof slots and 2 of the 4 listing slots', () => {
    expect(perAddressShare(DEFAULT_LIMITS.maxConcurrentProofs)).toBe(8)
    expect(perAddressShare(DEFAULT_LIMITS.maxConcurrentListings)).toBe(2)
  })

  it('derive the write rule figures of 4.2: 704 KiB opened ahead, any 256 KiB within 40.9 s', () => {
    expect(replicaPreopenBytes(DEFAULT_LIMITS, DEFAULT_PARAMS.blockSizeBytes)).toBe(704 * KIB)
    expect(stallLimit(DEFAULT_LIMITS.idleTimeoutMs)).toEqual({ bytes: 256 * KIB, ms: 40_909 })
  })

  it('bound connections: 128 early streams, 64 per address (32 upgrading), 300 clients, 4 per member, 32 member upgrade slots', () => {
    expect(MAX_EARLY_STREAMS).toBe(128)
    expect(DEFAULT_INBOUND_LIMITS.perHost).toBe(64)
    expect(DEFAULT_INBOUND_LIMITS.maxPending).toBe(64)
    expect(MAX_CLIENT_CONNECTIONS).toBe(300)
    expect(CONNECTIONS_PER_MEMBER).toBe(4)
    expect(MEMBER_PENDING_ROOM).toBe(32)
  })

  it('bound the replica channel: 64 requests and 4 MiB in flight, 4 channels, 256 KiB inline, 16 shards per stage', () => {
    expect(MAX_RPC_IN_FLIGHT).toBe(64)
    expect(MAX_RPC_INLINE_BYTES_IN_FLIGHT).toBe(4 * MIB)
    expect(MAX_INBOUND_RPC_CHANNELS).toBe(4)
    expect(MAX_INLINE_SHARD_BYTES).toBe(262_144)
    expect(MAX_STAGE_SHARDS).toBe(16)
    expect(MAX_RPC_ID).toBe(2 ** 32 - 1)
    expect(MAX_SNAPSHOT_ANSWER_BYTES).toBe(1_047_552)
    expect(RPC_SERVER_IDLE_FACTOR * DEFAULT_LIMITS.idleTimeoutMs).toBe(120_000)
  })

  it('bound listings: limit 1..1000 (default 100), 10_000 entries scanned, 4 MiB of records', () => {
    expect([DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, DEFAULT_PAGE, MAX_PAGE]).toEqual([100, 1000, 100, 1000])
    expect(MAX_LIST_SCAN_ENTRIES).toBe(10_000)
    expect(MAX_LIST_ANSWER_BYTES).toBe(4_194_304)
    expect(LIST_BYTES_PER_PAGE).toBe(4 * MIB)
    expect(MAX_LIST_PAGE_BYTES).toBe(64 * MIB) // what a client holds of one page (4.5)
  })

  it('bound keep-alives (4.6): 30 idle timeouts of them alone, at most 64 a second, never more often than 50 ms', () => {
    expect(PUSH_KEEPALIVE_IDLE_FACTOR).toBe(30)
    expect(MAX_KEEPALIVES_PER_SECOND).toBe(64)
    expect(MIN_KEEPALIVE_PERIOD_MS).toBe(50)
    expect(REFUSAL_DRAIN_MS).toBe(1_000) // section 3: at most 1 s after NOT_ELIGIBLE
  })
})

describe('docs/protocol.md message bounds of section 4', () => {
  it('4.6-4.10: staging ids of at most 128 characters, 1024 per abort, 64 acceptances of at most 1024 hex, 32768 leaf hashes a frame', () => {
    expect(MAX_STAGING_ID_CHARS).toBe(128)
    expect(MAX_ABORT_IDS).toBe(1024)
    expect(MAX_ACCEPTANCES).toBe(64)
    expect(MAX_ACCEPTANCE_SIGNATURE_CHARS).toBe(1024)
    expect(LEAF_HASHES_PER_FRAME).toBe(32_768)
    expect(LEAF_HASHES_PER_FRAME * 32).toBe(1 * MIB) // one DATA frame's body
  })

  it('4.1: node limits of 256 fee events and 128-byte telemetry node ids; section 5: details of at most 512', () => {
    expect(MAX_FEE_EVENTS).toBe(256)
    expect(MAX_TELEMETRY_NODE_ID_BYTES).toBe(128)
    expect(MAX_DETAIL_CHARS).toBe(512)
  })
})
