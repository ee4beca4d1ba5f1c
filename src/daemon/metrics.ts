import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { QfsError } from '../core/errors.js'
import type { SlotUse } from '../net/service.js'
import type { SpaceStatus, StoreStats } from '../store/index.js'

/** What the gauges read at scrape time. */
/**
 * The error codes metrics keep as label values; any other is `OTHER`. Codes can come off the wire
 * (a peer's ERROR frame), so the set is fixed to keep the number of series bounded.
 */
export const METRIC_ERROR_CODES: ReadonlySet<string> = new Set([
  'AEGIS_CONTEXT_MISSING',
  'CONTENT_TOO_LARGE',
  'EMPTY_SHARD',
  'FRAME_INVALID',
  'FRAME_TOO_LARGE',
  'INSUFFICIENT_NODES',
  'INTEGRITY_MISMATCH',
  'INTERNAL',
  'INVALID_INPUT',
  'INVALID_METADATA',
  'INVALID_NUMBER',
  'INVALID_VERSION',
  'LOG_WRITE_FAILED',
  'NODE_BUSY',
  'NODE_UNAVAILABLE',
  'NOT_DECIDED',
  'NOT_ELIGIBLE',
  'NOT_FOUND',
  'NO_SNAPSHOT',
  'OVERFLOW',
  'PROOF_INVALID',
  'PROOF_UNAVAILABLE',
  'QUORUM_NOT_REACHED',
  'READ_TOO_SLOW',
  'ROOT_MISMATCH',
  'SHARD_UNAVAILABLE',
  'SNAPSHOT_REJECTED',
  'STORAGE_FULL',
  'STORE_CLOSED',
  'STREAM_ENDED',
  'TIMEOUT',
  'UNEXPECTED_FRAME',
  'UNKNOWN_MESSAGE',
  'VERSION_CONFLICT',
  'WRITE_OUTCOME_UNKNOWN',
  'WRITE_TOO_SLOW',
])

function codeLabel(code: string): string {
  return METRIC_ERROR_CODES.has(code) ? code : 'OTHER'
}

export interface MetricsSources {
  storeStats(): Promise<StoreStats>
  /** Room for shard data, or null without a space guard. */
  space(): Promise<SpaceStatus | null>
  /** Peers with an open connection. */
  peerCount(): number
  /** Peers suspect now (engine/peer-health.ts). */
  suspectCount(): number
  /** Public reads and writes holding a slot now, and the yields so far. */
  slotsInUse(): SlotUse
  /** The epoch of the snapshot in force, or undefined without one. */
  epoch(): number | undefined
  logEntries(): number
}

export type Outcome = 'ok' | 'error'

/**
 * The node's own Prometheus metrics, in the registry libp2p's metrics also use (so one `/metrics`
 * answers both). Durations are wall-clock observations for operators; nothing reads them back.
 */
export class NodeMetrics {
  readonly registry: Registry
  private readonly requests: Counter<'op' | 'outcome'>
  private readonly errors: Counter<'op' | 'code'>
  private readonly exchangeFailures: Counter<'protocol' | 'code'>
  private readonly duration: Histogram<'op'>
  private readonly underReplicatedCount: Counter<'node'>
  private readonly replicaFailures: Counter<'node' | 'code'>
  private sources: MetricsSources | undefined

  constructor(registry: Registry) {
    this.registry = registry
    const registers = [registry]
    // Gauges read their value at scrape time; before `bind` they stay at zero.
    const gauge = (name: string, help: string, read: (src: MetricsSources) => Promise<number> | number) => {
      const g: Gauge = new Gauge({
        name,
        help,
        registers,
        collect: async () => {
          if (this.sources !== undefined) g.set(await read(this.sources))
        },
      })
    }
    gauge(
      'qfs_stored_bytes',
      'Bytes of committed shard data held by this node',
      async (s) => (await s.storeStats()).bytes_stored,
    )
    gauge('qfs_shards', 'Committed shards held by this node', async (s) => (await s.storeStats()).shards)
    gauge(
      'qfs_objects',
      'Objects this node keeps as a catalogue home',
      async (s) => (await s.storeStats()).objects,
    )
    gauge(
      'qfs_versions',
      'Object versions this node keeps as a catalogue home',
      async (s) => (await s.storeStats()).versions,
    )
    gauge(
      'qfs_storage_free_bytes',
      'Free bytes on the data directory filesystem, as the node last read them (-1 without a space guard)',
      async (s) => (await s.space())?.free_bytes ?? -1,
    )
    gauge(
      'qfs_storage_accepting_writes',
      'Whether the node has room for more shard data (1) or refuses stages with STORAGE_FULL (0)',
      async (s) => ((await s.space())?.accepting_writes === false ? 0 : 1),
    )
    gauge('qfs_peers', 'Peers with an open libp2p connection', (s) => s.peerCount())
    gauge(
      'qfs_suspect_peers',
      'Peers that lately failed to answer a request or a probe (tried last by reads, not waited for when not needed)',
      (s) => s.suspectCount(),
    )
    gauge(
      'qfs_public_reads_active',
      'Public reads holding one of the node slots (limits.max_concurrent_reads)',
      (s) => s.slotsInUse().reads,
    )
    gauge(
      'qfs_public_writes_active',
      'Public writes holding one of the node slots (limits.max_concurrent_writes)',
      (s) => s.slotsInUse().writes,
    )
    gauge(
      'qfs_public_proofs_active',
      'Public get_proof exchanges holding one of the node slots (limits.max_concurrent_proofs)',
      (s) => s.slotsInUse().proofs,
    )
    gauge(
      'qfs_public_listings_active',
      'Public listings holding one of the node slots (limits.max_concurrent_listings)',
      (s) => s.slotsInUse().listings,
    )
    // A counter kept by the admissions; each scrape adds what they counted since the last.
    const yieldsSeen = { read: 0, write: 0, proof: 0, listing: 0 }
    const yields: Counter<'kind'> = new Counter({
      name: 'qfs_slot_yields_total',
      help: 'Public reads, writes, proofs and listings that gave their slot to a client from another address while every slot was taken',
      labelNames: ['kind'],
      registers,
      collect: () => {
        if (this.sources === undefined) return
        const use = this.sources.slotsInUse()
        for (const [kind, total] of [
          ['read', use.readYields],
          ['write', use.writeYields],
          ['proof', use.proofYields],
          ['listing', use.listingYields],
        ] as const) {
          yields.inc({ kind }, total - yieldsSeen[kind])
          yieldsSeen[kind] = total
        }
      },
    })
    gauge('qfs_epoch', 'Epoch of the snapshot in force (-1 without one)', (s) => s.epoch() ?? -1)
    gauge('qfs_log_entries', 'Entries in the node audit log', (s) => s.logEntries())
    this.requests = new Counter({
      name: 'qfs_requests_total',
      help: 'Storage operations served, by operation and outcome',
      labelNames: ['op', 'outcome'],
      registers,
    })
    this.errors = new Counter({
      name: 'qfs_request_errors_total',
      help: 'Failed storage operations, by operation and error code',
      labelNames: ['op', 'code'],
      registers,
    })
    this.exchangeFailures = new Counter({
      name: 'qfs_exchange_failures_total',
      help: 'Exchanges this node ended with an ERROR frame, by protocol and code (refusals before any operation ran, broken streams)',
      labelNames: ['protocol', 'code'],
      registers,
    })
    this.underReplicatedCount = new Counter({
      name: 'qfs_under_replicated_shards_total',
      help: 'Shard replicas missing when this node acknowledged a write, by the node that missed them (repair input)',
      labelNames: ['node'],
      registers,
    })
    this.replicaFailures = new Counter({
      name: 'qfs_peer_failures_total',
      help: 'Exchanges with peers this node coordinated (reads, proofs, record lookups, stages, commits, listings) and probes that failed, by peer and code (INTEGRITY_MISMATCH: it served bytes that do not verify)',
      labelNames: ['node', 'code'],
      registers,
    })
    this.duration = new Histogram({
      name: 'qfs_request_duration_seconds',
      help: 'Duration of storage operations',
      labelNames: ['op'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    })
  }

  /** Binds the gauges to the running node (they read nothing until then). */
  bind(sources: MetricsSources): void {
    this.sources = sources
  }

  observe(op: string, outcome: Outcome, seconds: number, code?: string): void {
    this.requests.inc({ op, outcome })
    if (outcome === 'error') this.errors.inc({ op, code: codeLabel(code ?? 'INTERNAL') })
    this.duration.observe({ op }, seconds)
  }

  /** An exchange this node ended with an ERROR frame carrying `code`. */
  exchangeFailed(protocol: string, code: string): void {
    this.exchangeFailures.inc({ protocol, code: codeLabel(code) })
  }

  /**
   * What `admit` answers; a refusal it throws (NODE_BUSY) is counted as an exchange of `route` that
   * failed with the refusal's code, as the refusals of the libp2p exchanges it shares slots with are.
   */
  countingRefusals<T>(route: string, admit: () => T): T {
    try {
      return admit()
    } catch (err) {
      this.exchangeFailed(route, err instanceof QfsError ? err.code : 'INTERNAL')
      throw err
    }
  }

  /** A write this node acknowledged without these replicas (`under_replicated`: shard id to nodes). */
  underReplicated(missing: Readonly<Record<string, readonly string[]>>): void {
    for (const nodes of Object.values(missing))
      for (const node of nodes) this.underReplicatedCount.inc({ node })
  }

  /** A peer failed an exchange this node coordinated. */
  peerFailed(node: string, code: string): void {
    this.replicaFailures.inc({ node, code: codeLabel(code) })
  }

  /** A failure that ends an exchange before any operation runs (an ineligible peer). */
  reject(op: string, code: string): void {
    this.requests.inc({ op, outcome: 'error' })
    this.errors.inc({ op, code: codeLabel(code) })
  }
}
