import { performance } from 'node:perf_hooks'
import type { Libp2p } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import { API_LISTING_ROUTE, buildApi, isReady, type NodeStatus, type Readiness } from '../api/app.js'
import { DEFAULT_PARAMS } from '../core/params.js'
import { DeterministicTime } from '../core/time.js'
import { StorageEngine } from '../engine/engine.js'
import { RecentFailures } from '../engine/peer-health.js'
import type { EpochSnapshot } from '../membership/snapshot.js'
import { SnapshotMembership } from '../membership/snapshot-membership.js'
import { peerAcceptanceKeys } from '../net/acceptance-keys.js'
import {
  createQfsLibp2p,
  type Dialer,
  Libp2pTransport,
  PROTOCOLS,
  type QfsLibp2pServices,
  replicaPreopenBytes,
  type StorageProtocolService,
  storageProtocol,
} from '../net/index.js'
import { memberSources } from '../net/source-address.js'
import type { LocalNode } from '../node/local-node.js'
import { DiskSpaceGuard, filesystemFreeBytes } from '../store/index.js'
import type { NodeConfig } from './config.js'
import { dataPaths, readNodeIdentity, removeRunInfo, writeRunInfo } from './data-dir.js'
import { StartFailedError } from './errors.js'
import { InFlight, instrumentEngine, instrumentNodeService } from './instrument.js'
import { withForgetfulGroups } from './libp2p-metrics.js'
import { listenFailureMessage } from './listen-failure.js'
import { createLogger, type Logger } from './logger.js'
import { NodeMetrics } from './metrics.js'
import { logWriteHealth, openLocal } from './open-local.js'
import { PROBE_TIMEOUT_MS, startPeerProber } from './peer-prober.js'
import {
  loadInitialSnapshot,
  reloadSnapshot,
  type SnapshotReload,
  saveInHistory,
} from './snapshot-adoption.js'
import { SnapshotBackfill } from './snapshot-backfill.js'
import { readSavedSnapshot, savedSnapshotPath } from './snapshot-file.js'
import { startStagingSweeper } from './staging-sweeper.js'
import { VERSION } from './version.js'

export interface StartOptions {
  /** Default: pino JSON lines on stdout at `config.logLevel`. */
  logger?: Logger
}

/** A started node: every part, and the one way to end it. */
export interface RunningNode {
  readonly nodeId: string
  readonly config: NodeConfig
  readonly local: LocalNode
  /** The node's coordinator (instrumented: its calls are counted in the metrics). */
  readonly engine: StorageEngine
  readonly libp2p: Libp2p
  readonly membership: SnapshotMembership
  readonly metrics: NodeMetrics
  readonly logger: Logger
  /** `http://host:port` of the operator API. */
  readonly apiUrl: string
  multiaddrs(): string[]
  status(): Promise<NodeStatus>
  readiness(): Readiness
  /**
   * Re-reads the snapshot file and adopts it when it is the next epoch; after an adoption the earlier
   * epochs this node lacks are fetched from its peers in the background (snapshot-backfill.ts).
   */
  reloadSnapshot(): Promise<SnapshotReload>
  /** Graceful: refuse new streams, let calls in flight finish (bounded), seal the log, close. */
  stop(): Promise<void>
}

/**
 * The composition root (docs/operations.md): the data directory's LocalNode, the membership from the
 * signed snapshot, the engine over Libp2pTransport, the storage protocol service inside a libp2p node
 * whose metrics share the API's Prometheus registry, the operator API, then `run.json`. Whatever
 * started is closed again if a later step fails.
 */
export async function startNode(config: NodeConfig, options: StartOptions = {}): Promise<RunningNode> {
  const logger = options.logger ?? createLogger(config.logLevel)
  const identity = await readNodeIdentity(config.dir)
  const nodeId = identity.nodeId
  const log = logger.child({ node_id: nodeId })
  const membership = new SnapshotMembership({ trustedKeys: config.trustedAuthorities })
  await loadInitialSnapshot(config, membership, log)
  const params = membership.latest === undefined ? DEFAULT_PARAMS : membership.current().params
  if (membership.latest !== undefined && !membership.isEligible(nodeId)) {
    // Every replica exchange it opens comes from its own peer id, which the eligible nodes refuse
    // (NOT_ELIGIBLE): it can neither hold shards nor coordinate a write or a read.
    log.warn(
      { epoch: membership.latest.epoch },
      'this node is not in the snapshot: the eligible nodes refuse its replica exchanges, so it serves no writes or reads, and /readyz says not ready (eligible: false)',
    )
  }

  const cleanups: Array<() => Promise<void>> = []
  const undo = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {})
  }
  try {
    const space = new DiskSpaceGuard({
      // LevelDB lives in D/db, which an operator may mount apart from D.
      freeBytes: filesystemFreeBytes(dataPaths(config.dir).db),
      reserveBytes: config.storage.reserveBytes,
      capacityBytes: config.storage.capacityBytes,
    })
    const local = await openLocal(
      nodeId,
      config.dir,
      params,
      space,
      { sync: config.storage.sync, onWriteHealth: logWriteHealth(log) },
      membership,
      peerAcceptanceKeys(identity.privateKey),
    )
    cleanups.push(() => local.close())

    const registry = new Registry()
    const metrics = new NodeMetrics(registry)
    const inflight = new InFlight()
    const tracker = { metrics, inflight, log }
    const limits = {
      maxContentBytes: config.limits.maxContentBytes,
      requestTimeoutMs: config.limits.requestTimeoutMs,
      idleTimeoutMs: config.limits.idleTimeoutMs,
      maxConcurrentWrites: config.limits.maxConcurrentWrites,
      maxConcurrentReads: config.limits.maxConcurrentReads,
      maxConcurrentProofs: config.limits.maxConcurrentProofs,
      maxConcurrentListings: config.limits.maxConcurrentListings,
      writeMinDeadlineMs: config.limits.writeMinDeadlineMs,
      writeMinBytesPerSecond: config.limits.writeMinBytesPerSecond,
      readMinDeadlineMs: config.limits.readMinDeadlineMs,
      readMinBytesPerSecond: config.limits.readMinBytesPerSecond,
    }
    // The engine needs a dialer before libp2p exists (libp2p needs the engine for its service).
    let node: Libp2p<{ storage: StorageProtocolService; ping: QfsLibp2pServices['ping'] }> | undefined
    const dialer: Dialer = {
      dialProtocol: (peer, protocols, opts) => node!.dialProtocol(peer, protocols, opts),
    }
    const transport = new Libp2pTransport(
      { libp2p: dialer, resolve: (id) => addressesOf(membership, id), local: local.service },
      { limits, params },
    )
    const backfill = new SnapshotBackfill(
      {
        nodeId,
        membership,
        fetch: (peer, epoch, opts) => transport.getSnapshot(peer, epoch, opts),
        saved: (epoch) => readSavedSnapshot(savedSnapshotPath(config.dir, epoch)),
        save: (snapshot) => saveInHistory(config, snapshot, log),
        log,
      },
      { requestTimeoutMs: config.limits.requestTimeoutMs },
    )
    const health = new RecentFailures({
      onFailure: (peer, code) => {
        metrics.peerFailed(peer, code)
        if (CORRUPTION.has(code)) log.warn({ peer, code }, 'a replica served data that does not verify')
      },
    })
    const engine = instrumentEngine(
      new StorageEngine(
        {
          nodeId,
          transport,
          membership,
          log: local.log,
          time: clockOf(membership.latest),
          health,
          decided: local.decided,
        },
        {
          timeouts: {
            requestMs: config.limits.requestTimeoutMs,
            streamIdleMs: config.limits.idleTimeoutMs,
            suspectGraceMs: config.limits.suspectGraceMs,
          },
          preopenBytes: replicaPreopenBytes(config.limits, params.blockSizeBytes),
        },
      ),
      tracker,
    )
    try {
      node = await createQfsLibp2p({
        privateKey: identity.privateKey,
        listen: config.listen,
        announce: config.announce,
        inbound: {
          perHostPerSecond: config.limits.inboundConnectionsPerHostPerSecond,
          maxPending: config.limits.maxPendingInboundConnections,
          perHost: config.limits.maxInboundConnectionsPerHost,
        },
        isMember: (peer) => membership.isEligible(peer),
        membersAt: memberSources(() => membership.latest?.nodes),
        // prom-client samples event-loop delay with a timer, 10 ms apart by default: a hundred
        // wake-ups a second of an idle node, which on a small shared machine is CPU taken from its
        // peers. Every 100 ms still catches the stalls an operator looks for.
        metrics: withForgetfulGroups(
          prometheusMetrics({ registry, defaultMetrics: { eventLoopMonitoringPrecision: 100 } }),
        ),
        services: {
          storage: storageProtocol({
            node: instrumentNodeService(local.service, tracker),
            engine,
            isEligiblePeer: (peer) => {
              if (membership.isEligible(peer)) return true
              metrics.reject('replica', 'NOT_ELIGIBLE')
              return false
            },
            onExchangeFailed: (protocol, code) => metrics.exchangeFailed(PROTOCOLS[protocol], code),
            snapshots: membership,
            limits,
          }),
        },
      })
    } catch (err) {
      throw new StartFailedError(listenFailureMessage(err, config.listen), { cause: err })
    }
    const libp2p = node
    cleanups.push(async () => libp2p.stop())
    metrics.bind({
      storeStats: () => local.store.stats(),
      space: () => local.store.spaceStatus(),
      peerCount: () => libp2p.getPeers().length,
      suspectCount: () => health.suspects().length,
      slotsInUse: () => libp2p.services.storage.slotsInUse(),
      epoch: () => membership.latest?.epoch,
      logEntries: () => local.log.head().entries,
    })

    const startedAt = performance.now()
    let state: 'running' | 'stopping' | 'stopped' = 'running'
    const multiaddrs = () => libp2p.getMultiaddrs().map((a) => a.toString())
    const readiness = (): Readiness => ({
      // A log that cannot be written stores nothing: every write and read leaves an entry.
      store: state === 'running' && local.log.writeFailure() === undefined,
      libp2p: libp2p.status === 'started',
      snapshot: membership.latest !== undefined,
      eligible: membership.isEligible(nodeId),
    })
    const status = async (): Promise<NodeStatus> => {
      const r = readiness()
      return {
        node_id: nodeId,
        version: VERSION,
        ready: isReady(r),
        epoch: membership.latest?.epoch ?? null,
        snapshot_hash: membership.latest?.snapshot_hash ?? null,
        multiaddrs: multiaddrs(),
        peers: libp2p.getPeers().length,
        store: await local.store.stats(),
        log: local.log.head(),
        space: await local.store.spaceStatus(),
        suspect_peers: health.suspects(),
        uptime_seconds: Math.round(performance.now() - startedAt) / 1000,
      }
    }

    const api: FastifyInstance = buildApi({
      status,
      readiness,
      listObjects: (filters, { signal }) => engine.listObjects(filters, { signal }),
      admitListing: (signal, source) =>
        metrics.countingRefusals(API_LISTING_ROUTE, () =>
          libp2p.services.storage.admitListing(signal, source),
        ),
      registry,
      token: config.api.token,
      logger: log.child({ component: 'api' }) as FastifyBaseLogger,
    })
    let apiUrl: string
    try {
      await api.listen({ host: config.api.host, port: config.api.port })
      const address = api.server.address()
      const port = typeof address === 'object' && address !== null ? address.port : config.api.port
      apiUrl = `http://${config.api.host.includes(':') ? `[${config.api.host}]` : config.api.host}:${port}`
    } catch (err) {
      await api.close().catch(() => {})
      throw new StartFailedError(
        `the operator API could not listen on ${config.api.host}:${config.api.port}: ${(err as Error).message}`,
        { cause: err },
      )
    }
    cleanups.push(() => api.close())
    await writeRunInfo(config.dir, {
      pid: process.pid,
      node_id: nodeId,
      multiaddrs: multiaddrs(),
      api: apiUrl,
    })
    const prober =
      config.limits.probeIntervalMs > 0
        ? startPeerProber({
            // Connected peers only: a frozen peer costs a whole deadline over a connection it keeps
            // open; one that is gone refuses a dial at once.
            peers: () =>
              [...new Set(libp2p.getConnections().map((c) => c.remotePeer.toString()))].filter(
                (p) => p !== nodeId && membership.isEligible(p),
              ),
            ping: (peer, signal) => libp2p.services.ping.ping(peerIdFromString(peer), { signal }),
            health,
            intervalMs: config.limits.probeIntervalMs,
            timeoutMs: Math.min(PROBE_TIMEOUT_MS, config.limits.requestTimeoutMs),
          })
        : undefined
    if (prober !== undefined) cleanups.push(() => prober.stop())
    const sweeper = startStagingSweeper({
      store: local.store,
      rollForward: (refs) => engine.rollForwardStaged(refs),
      intervalMs: config.limits.stagingSweepIntervalMs,
      olderThanMs: config.limits.stagingMaxAgeMs,
      log,
    })
    log.info(
      { multiaddrs: multiaddrs(), api: apiUrl, epoch: membership.latest?.epoch ?? null },
      'node started',
    )
    // In the background: a node that lacks earlier epochs serves all the same, and never waits for peers.
    void backfill.start()

    let stopping: Promise<void> | undefined
    const stop = () => {
      stopping ??= (async () => {
        state = 'stopping'
        log.info({ in_flight: inflight.size }, 'stopping')
        let failure: unknown
        const step = async (what: string, run: () => unknown) => {
          try {
            await run()
          } catch (err) {
            log.error({ err }, `stop: ${what} failed`)
            failure ??= err
          }
        }
        // New streams are refused from here; those already open run to their end, up to the bound.
        await step('stopping the peer probes', async () => prober?.stop())
        await step('stopping the snapshot backfill', () => backfill.stop())
        await step('unregistering the storage protocols', () => libp2p.services.storage.stop())
        if (!(await inflight.idle(config.limits.shutdownTimeoutMs))) {
          log.warn({ in_flight: inflight.size }, 'shutdown timeout: closing with operations in flight')
        }
        await step('closing the API', () => api.close())
        // Our replica channels to other nodes end here, before libp2p hangs up under them.
        await step('closing the replica channels', async () => transport.close())
        await step('stopping libp2p', () => libp2p.stop())
        // After the streams: a sweep must not race the store's close.
        await step('stopping the staging sweep', () => sweeper.stop())
        // Closing the log signs a checkpoint over every entry before the database closes.
        await step('closing the store and log', () => local.close())
        await step('removing run.json', () => removeRunInfo(config.dir))
        state = 'stopped'
        log.info('stopped')
        if (failure !== undefined) throw failure
      })()
      return stopping
    }

    return {
      nodeId,
      config,
      local,
      engine,
      libp2p,
      membership,
      metrics,
      logger: log,
      apiUrl,
      multiaddrs,
      status,
      readiness,
      reloadSnapshot: async () => {
        const reload = await reloadSnapshot(config, membership, params, log)
        if (reload === 'adopted') void backfill.start()
        return reload
      },
      stop,
    }
  } catch (err) {
    await undo()
    throw err
  }
}

/** Replica failures that mean bad data, not absence: each is logged as well as counted. */
const CORRUPTION = new Set(['INTEGRITY_MISMATCH', 'ROOT_MISMATCH', 'PROOF_INVALID'])

/**
 * The node's clock starts at the epoch it is in. Ticks in its log were stated by requests (a
 * write's timestamp_tick), so they do not move it: one request must not pin the clock for good.
 */
function clockOf(snapshot: EpochSnapshot | undefined): DeterministicTime {
  return new DeterministicTime({ tick: snapshot?.start_tick ?? 0 })
}

/** A node's snapshot multiaddrs; ones that do not parse are skipped (the peer id alone may still reach it). */
function addressesOf(membership: SnapshotMembership, nodeId: string): Multiaddr[] {
  let entry: { multiaddrs: string[] } | undefined
  try {
    entry = membership.current().nodes.get(nodeId)
  } catch {
    return []
  }
  const out: Multiaddr[] = []
  for (const a of entry?.multiaddrs ?? []) {
    try {
      out.push(multiaddr(a))
    } catch {
      // A signed but unusable address is the authority's mistake; the others still work.
    }
  }
  return out
}
