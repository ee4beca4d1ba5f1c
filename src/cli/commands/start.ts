import type { Command } from 'commander'
import { type ConfigFlags, LOG_LEVELS, type LogLevel, loadConfig, unknownEnv } from '../../daemon/config.js'
import { startNode } from '../../daemon/daemon.js'
import { applyDaemonHeapGrowth } from '../../daemon/heap-growth.js'
import { createLogger } from '../../daemon/logger.js'
import { type CliIo, EXIT } from '../io.js'

interface StartOptions {
  dir?: string
  config?: string
  listen?: string[]
  announce?: string[]
  apiHost?: string
  apiPort?: string
  apiToken?: string
  snapshot?: string
  trust?: string[]
  logLevel?: string
  allowNoSnapshot?: boolean
  maxContentBytes?: string
  requestTimeoutMs?: string
  idleTimeoutMs?: string
  suspectGraceMs?: string
  probeIntervalMs?: string
  shutdownTimeoutMs?: string
  stagingSweepIntervalMs?: string
  stagingMaxAgeMs?: string
  inboundConnectionsPerHostPerSecond?: string
  maxPendingInboundConnections?: string
  maxConcurrentWrites?: string
  maxConcurrentReads?: string
  writeMinDeadlineMs?: string
  writeMinBytesPerSecond?: string
  readMinDeadlineMs?: string
  readMinBytesPerSecond?: string
  storageReserveBytes?: string
  storageCapacityBytes?: string
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value]

export function registerStart(program: Command, io: CliIo): void {
  program
    .command('start')
    .description(
      'run the node in the foreground; prints {"event":"ready",...} once listening, stops on SIGINT/SIGTERM',
    )
    .option('--dir <dir>', 'node data directory (default $QFS_DIR)')
    .option(
      '--config <file>',
      'configuration file (default $QFS_CONFIG, else <dir>/config.json when present)',
    )
    .option(
      '--listen <multiaddr>',
      'libp2p listen address, repeatable (default /ip4/127.0.0.1/tcp/0)',
      collect,
    )
    .option(
      '--announce <multiaddr>',
      'address to announce instead of the listen addresses, repeatable',
      collect,
    )
    .option('--api-host <host>', 'operator API host (default 127.0.0.1)')
    .option('--api-port <port>', 'operator API port (default 0: any free port)')
    .option('--api-token <token>', 'bearer token for /v1 (prefer $QFS_API_TOKEN: flags show in ps)')
    .option('--snapshot <file>', 'epoch snapshot file (default <dir>/snapshot.json)')
    .option('--trust <key|file>', 'trusted AEGIS authority public key (hex or file), repeatable', collect)
    .option('--log-level <level>', `one of ${LOG_LEVELS.join(', ')} (default info)`)
    .option(
      '--allow-no-snapshot',
      'start without a valid snapshot (not ready until one is loaded with SIGHUP)',
    )
    .option('--max-content-bytes <n>', 'largest content a public write may announce')
    .option('--request-timeout-ms <n>', 'deadline of one small exchange')
    .option('--idle-timeout-ms <n>', 'longest silence inside a stream')
    .option(
      '--suspect-grace-ms <n>',
      'how long a write or lookup still waits for a peer that lately failed to answer (default 500)',
    )
    .option(
      '--probe-interval-ms <n>',
      'how often eligible peers are pinged; 0 turns probing off (default 5000)',
    )
    .option('--shutdown-timeout-ms <n>', 'how long a stop waits for operations in flight')
    .option('--staging-sweep-interval-ms <n>', 'how often staged shards of abandoned writes are swept')
    .option('--staging-max-age-ms <n>', 'age at which an uncommitted staged shard is swept')
    .option(
      '--inbound-connections-per-host-per-second <n>',
      'new libp2p connections accepted per second from one host (default 100)',
    )
    .option('--max-pending-inbound-connections <n>', 'libp2p connections upgrading at once (default 64)')
    .option(
      '--max-concurrent-writes <n>',
      'public writes coordinated at once; more are refused with NODE_BUSY (default 32)',
    )
    .option(
      '--max-concurrent-reads <n>',
      'public reads served at once; more are refused with NODE_BUSY (default 32)',
    )
    .option(
      '--write-min-deadline-ms <n>',
      'waiting a public write gets before its minimum rate applies (default 60000)',
    )
    .option(
      '--write-min-bytes-per-second <n>',
      'bytes a public write must deliver per second the node waits for it (default 65536)',
    )
    .option(
      '--read-min-deadline-ms <n>',
      'waiting for its client a public read gets before its minimum rate applies (default 60000)',
    )
    .option(
      '--read-min-bytes-per-second <n>',
      'bytes the client of a public read must take per second the node waits for it (default 65536)',
    )
    .option(
      '--storage-reserve-bytes <n>',
      'free disk bytes kept for the log and LevelDB; shards are refused below it (default 268435456)',
    )
    .option('--storage-capacity-bytes <n>', 'most shard bytes this node holds (default: no quota)')
    .action(async (opts: StartOptions) => {
      const flags: ConfigFlags = {
        listen: opts.listen,
        announce: opts.announce,
        'api.host': opts.apiHost,
        'api.port': opts.apiPort,
        'api.token': opts.apiToken,
        snapshot: opts.snapshot,
        trusted_authorities: opts.trust,
        log_level: opts.logLevel,
        allow_no_snapshot: opts.allowNoSnapshot,
        'limits.max_content_bytes': opts.maxContentBytes,
        'limits.request_timeout_ms': opts.requestTimeoutMs,
        'limits.idle_timeout_ms': opts.idleTimeoutMs,
        'limits.suspect_grace_ms': opts.suspectGraceMs,
        'limits.probe_interval_ms': opts.probeIntervalMs,
        'limits.shutdown_timeout_ms': opts.shutdownTimeoutMs,
        'limits.staging_sweep_interval_ms': opts.stagingSweepIntervalMs,
        'limits.staging_max_age_ms': opts.stagingMaxAgeMs,
        'limits.inbound_connections_per_host_per_second': opts.inboundConnectionsPerHostPerSecond,
        'limits.max_pending_inbound_connections': opts.maxPendingInboundConnections,
        'limits.max_concurrent_writes': opts.maxConcurrentWrites,
        'limits.max_concurrent_reads': opts.maxConcurrentReads,
        'limits.write_min_deadline_ms': opts.writeMinDeadlineMs,
        'limits.write_min_bytes_per_second': opts.writeMinBytesPerSecond,
        'limits.read_min_deadline_ms': opts.readMinDeadlineMs,
        'limits.read_min_bytes_per_second': opts.readMinBytesPerSecond,
        'storage.reserve_bytes': opts.storageReserveBytes,
        'storage.capacity_bytes': opts.storageCapacityBytes,
      }
      const config = await loadConfig({ dir: opts.dir, configFile: opts.config, env: process.env, flags })
      applyDaemonHeapGrowth()
      await runForeground(config.logLevel, io, async (logger) => startNode(config, { logger }))
    })
}

/**
 * Starts, announces readiness on one stdout line, then waits for SIGINT/SIGTERM and stops
 * gracefully. SIGHUP re-reads the snapshot file. A second SIGINT/SIGTERM during the stop exits at
 * once (status 3), for an operator who will not wait.
 */
async function runForeground(
  level: LogLevel,
  io: CliIo,
  start: (logger: ReturnType<typeof createLogger>) => ReturnType<typeof startNode>,
): Promise<void> {
  // Log lines go through the same stdout writer as the ready line, so lines never interleave.
  const logger = createLogger(level, (line) => io.stdout(line))
  const ignored = unknownEnv(process.env)
  if (ignored.length > 0) logger.warn({ variables: ignored }, 'ignoring QFS_* variables that are no setting')
  const node = await start(logger)
  const onHangup = () => {
    node
      .reloadSnapshot()
      .then((changed) =>
        logger.info({ changed, epoch: node.membership.latest?.epoch ?? null }, 'snapshot reloaded'),
      )
      .catch((err: unknown) => logger.error({ err }, 'snapshot reload refused'))
  }
  process.on('SIGHUP', onHangup)
  io.stdout(
    `${JSON.stringify({ event: 'ready', node_id: node.nodeId, multiaddrs: node.multiaddrs(), api: node.apiUrl })}\n`,
  )
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      resolve(sig)
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
  const force = () => {
    io.stderr('second signal: exiting without a clean stop\n')
    process.exit(EXIT.FAILED)
  }
  process.once('SIGINT', force)
  process.once('SIGTERM', force)
  logger.info({ signal }, 'signal received: stopping')
  try {
    await node.stop()
  } finally {
    process.off('SIGINT', force)
    process.off('SIGTERM', force)
    process.off('SIGHUP', onHangup)
  }
}
