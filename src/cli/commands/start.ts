import { rm } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import type { ConfigFlags, LogLevel, unknownEnv } from '../../daemon/config.js'
import type { startNode } from '../../daemon/daemon.js'
import type { createLogger } from '../../daemon/logger.js'
import { InvalidArgumentError } from '../errors.js'
import { LOG_LEVEL_NAMES } from '../help-values.js'
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
  maxInboundConnectionsPerHost?: string
  maxConcurrentWrites?: string
  maxConcurrentReads?: string
  maxConcurrentProofs?: string
  maxConcurrentListings?: string
  writeMinDeadlineMs?: string
  writeMinBytesPerSecond?: string
  readMinDeadlineMs?: string
  readMinBytesPerSecond?: string
  storageReserveBytes?: string
  storageCapacityBytes?: string
  storageSync?: string
  stopOnStdinEof?: boolean
  removeOnStdinEof?: string
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value]

export function registerStart(program: Command, io: CliIo): void {
  program
    .command('start')
    .description(
      'run the node in the foreground; prints {"event":"ready",...} once listening, stops on SIGINT/SIGTERM, SIGHUP reloads the snapshot',
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
    .option('--log-level <level>', `one of ${LOG_LEVEL_NAMES.join(', ')} (default info)`)
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
      '--max-inbound-connections-per-host <n>',
      'libp2p connections from one address, upgrading or open, at once (default 64)',
    )
    .option(
      '--max-concurrent-writes <n>',
      'public writes coordinated at once; more are refused with NODE_BUSY (default 32)',
    )
    .option(
      '--max-concurrent-reads <n>',
      'public reads served at once; more are refused with NODE_BUSY (default 32)',
    )
    .option(
      '--max-concurrent-proofs <n>',
      'public get_proofs served at once, half at most for one address; more are NODE_BUSY (default 16)',
    )
    .option(
      '--max-concurrent-listings <n>',
      'public listings coordinated at once, half at most for one address; more are NODE_BUSY (default 4)',
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
    .option(
      '--storage-sync <true|false>',
      'sync acknowledged commits and write entries to disk before answering (default true)',
    )
    .option(
      '--stop-on-stdin-eof',
      'stop gracefully (as on SIGTERM) when stdin reaches end of file: for a supervisor holding a pipe (the devnet)',
    )
    .option(
      '--remove-on-stdin-eof <file>',
      "with --stop-on-stdin-eof: remove FILE when stdin ends, for a supervisor's file about its nodes that it can no longer remove itself (the devnet's devnet.json)",
    )
    .action(async (opts: StartOptions) => {
      if (opts.removeOnStdinEof !== undefined && opts.stopOnStdinEof !== true)
        throw new InvalidArgumentError('--remove-on-stdin-eof needs --stop-on-stdin-eof')
      if (opts.removeOnStdinEof === '') throw new InvalidArgumentError('--remove-on-stdin-eof needs a file')
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
        'limits.max_inbound_connections_per_host': opts.maxInboundConnectionsPerHost,
        'limits.max_concurrent_writes': opts.maxConcurrentWrites,
        'limits.max_concurrent_reads': opts.maxConcurrentReads,
        'limits.max_concurrent_proofs': opts.maxConcurrentProofs,
        'limits.max_concurrent_listings': opts.maxConcurrentListings,
        'limits.write_min_deadline_ms': opts.writeMinDeadlineMs,
        'limits.write_min_bytes_per_second': opts.writeMinBytesPerSecond,
        'limits.read_min_deadline_ms': opts.readMinDeadlineMs,
        'limits.read_min_bytes_per_second': opts.readMinBytesPerSecond,
        'storage.reserve_bytes': opts.storageReserveBytes,
        'storage.capacity_bytes': opts.storageCapacityBytes,
        'storage.sync': opts.storageSync,
      }
      // The daemon (libp2p, LevelDB, fastify) loads only once `start` runs, not for every command.
      const [{ loadConfig, unknownEnv }, { startNode }, { applyDaemonHeapGrowth }, { createLogger }] =
        await Promise.all([
          import('../../daemon/config.js'),
          import('../../daemon/daemon.js'),
          import('../../daemon/heap-growth.js'),
          import('../../daemon/logger.js'),
        ])
      const config = await loadConfig({ dir: opts.dir, configFile: opts.config, env: process.env, flags })
      applyDaemonHeapGrowth()
      await runForeground(
        config.logLevel,
        io,
        {
          stopOnStdinEof: opts.stopOnStdinEof === true,
          removeOnStdinEof: opts.removeOnStdinEof === undefined ? undefined : resolve(opts.removeOnStdinEof),
        },
        { createLogger, unknownEnv },
        async (logger) => startNode(config, { logger }),
      )
    })
}

/**
 * A repeat of the first stop signal within this many milliseconds is the same Ctrl-C (or the same
 * `systemctl stop`) delivered twice, not an operator who will not wait: npm, npx and the Node 20
 * re-exec wrapper (bin/qfs-node.js) forward a SIGINT the terminal also sent to their whole process
 * group, and systemd signals every process of the unit's control group.
 */
export const REPEAT_ECHO_MS = 500

/** Where the foreground node is in its life, for what a signal means. */
export type ForegroundPhase = 'starting' | 'running' | 'stopping' | 'stopped'

/**
 * What SIGINT or SIGTERM does (docs/operations.md "Stopping"): before the ready line the default
 * action (no handler yet); once running, a graceful stop; during a stop that no signal began (stdin
 * closed), the first signal only joins it ('first'); during the stop, a second signal exits at once
 * with status 3 (an echo of the first is ignored, see REPEAT_ECHO_MS); once stopped cleanly, exit at
 * once with status 0, since nothing is left to lose.
 */
export function stopSignalAction(
  phase: Exclude<ForegroundPhase, 'starting'>,
  first: { signal: NodeJS.Signals; atMs: number } | undefined,
  signal: NodeJS.Signals,
  nowMs: number,
): 'stop' | 'first' | 'ignore' | 'exit-failed' | 'exit-ok' {
  if (phase === 'running') return 'stop'
  if (phase === 'stopped') return 'exit-ok'
  if (first === undefined) return 'first'
  if (first !== undefined && first.signal === signal && nowMs - first.atMs < REPEAT_ECHO_MS) return 'ignore'
  return 'exit-failed'
}

/**
 * Starts, announces readiness on one stdout line, then waits for SIGINT/SIGTERM (or, when
 * `stopOnStdinEof`, the end of stdin: a supervisor holding the other end of a pipe has gone) and
 * stops gracefully. SIGHUP re-reads the snapshot file; one that arrives before the ready line is
 * applied once the node runs, and one during or after the stop is ignored. The handlers stay
 * installed until the process exits, so no signal ever meets the default action once caught.
 */
async function runForeground(
  level: LogLevel,
  io: CliIo,
  supervisor: { stopOnStdinEof: boolean; removeOnStdinEof?: string },
  daemon: { createLogger: typeof createLogger; unknownEnv: typeof unknownEnv },
  start: (logger: ReturnType<typeof createLogger>) => ReturnType<typeof startNode>,
): Promise<void> {
  // Log lines go through the same stdout writer as the ready line, so lines never interleave.
  const logger = daemon.createLogger(level, (line) => io.stdout(line))
  let phase: ForegroundPhase = 'starting'
  let node: Awaited<ReturnType<typeof startNode>> | undefined
  // Once the node runs, its own logger, which names it (node_id) on every line as the node's lines
  // do: an operator who collects several nodes' logs finds a refused reload or a stop under its node.
  const log = () => node?.logger ?? logger
  let reloadPending = false
  const reload = (running: NonNullable<typeof node>) =>
    running
      .reloadSnapshot()
      .then((outcome) => {
        // No file was already said, as a warning; "reloaded" would contradict it.
        if (outcome === 'no-file') return
        const changed = outcome === 'adopted'
        log().info({ changed, epoch: running.membership.latest?.epoch ?? null }, 'snapshot reloaded')
      })
      .catch((err: unknown) => log().error({ err }, 'snapshot reload refused'))
  const onHangup = () => {
    if (phase === 'running' && node !== undefined) void reload(node)
    else if (phase === 'starting') {
      reloadPending = true
      log().info('SIGHUP before ready: the snapshot is re-read once the node runs')
    } else log().info({ phase }, 'SIGHUP ignored: the node is stopping')
  }
  process.on('SIGHUP', onHangup)

  let requestStop: (reason: NodeJS.Signals | 'stdin') => void = () => {}
  const stopRequested = new Promise<NodeJS.Signals | 'stdin'>((resolve) => {
    requestStop = resolve
  })
  const { stopOnStdinEof, removeOnStdinEof } = supervisor
  // Removed at the end of stdin, before the stop: a killed supervisor (SIGKILL) could not remove its
  // list of nodes, and nobody should dial what it names while they stop.
  const removeSupervisorFile = async () => {
    if (removeOnStdinEof === undefined) return
    await rm(removeOnStdinEof, { force: true }).then(
      () => log().info({ path: removeOnStdinEof }, "removed the supervisor's file"),
      (err: unknown) => log().warn({ path: removeOnStdinEof, err }, "could not remove the supervisor's file"),
    )
  }
  const stdin = stopOnStdinEof
    ? watchStdinEof(() => {
        void removeSupervisorFile()
        requestStop('stdin')
      })
    : undefined

  const ignored = daemon.unknownEnv(process.env)
  if (ignored.length > 0) logger.warn({ variables: ignored }, 'ignoring QFS_* variables that are no setting')
  logger.info({ pid: process.pid, stop_on_stdin_eof: stopOnStdinEof }, 'starting')
  try {
    node = await start(logger)
  } catch (err) {
    process.off('SIGHUP', onHangup)
    stdin?.release()
    throw err
  }
  const running = node
  phase = 'running'
  let first: { signal: NodeJS.Signals; atMs: number } | undefined
  const onStopSignal = (signal: NodeJS.Signals) => {
    const now = performance.now()
    const action = stopSignalAction(phase as Exclude<ForegroundPhase, 'starting'>, first, signal, now)
    if (action === 'stop') {
      first = { signal, atMs: now }
      requestStop(signal)
    } else if (action === 'first') {
      first = { signal, atMs: now }
      log().info({ signal }, 'signal received: already stopping')
    } else if (action === 'ignore') log().info({ signal }, 'repeated signal ignored: already stopping')
    else if (action === 'exit-ok') process.exit(EXIT.OK)
    else {
      io.stderr('second signal: exiting without a clean stop\n')
      process.exit(EXIT.FAILED)
    }
  }
  process.on('SIGINT', onStopSignal)
  process.on('SIGTERM', onStopSignal)
  io.stdout(
    `${JSON.stringify({ event: 'ready', node_id: running.nodeId, multiaddrs: running.multiaddrs(), api: running.apiUrl })}\n`,
  )
  if (reloadPending) void reload(running)
  const reason = await stopRequested
  phase = 'stopping'
  stdin?.release()
  if (reason === 'stdin') log().info('stdin closed (the supervisor is gone): stopping')
  else log().info({ signal: reason }, 'signal received: stopping')
  await running.stop()
  phase = 'stopped'
}

/**
 * Calls `onEnd` once stdin reaches end of file (or fails): what a supervisor that spawned the node
 * with a pipe on stdin and never writes to it causes by exiting, however it exits (SIGKILL included).
 * Whatever is written to the pipe is read and dropped.
 */
function watchStdinEof(onEnd: () => void): { release(): void } {
  const stdin = process.stdin
  const end = () => onEnd()
  stdin.on('data', () => {})
  stdin.once('end', end)
  stdin.once('error', end)
  stdin.resume()
  return {
    // Once stopping, stdin must not keep the process alive.
    release: () => {
      stdin.off('end', end)
      stdin.destroy()
    },
  }
}
