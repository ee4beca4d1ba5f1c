import { resolve } from 'node:path'
import type { Command } from 'commander'
import { InvalidInputError } from '../../core/errors.js'
import { InvalidArgumentError } from '../errors.js'
import { LOG_LEVEL_NAMES, MAX_DEVNET_NODES, MIN_DEVNET_NODES } from '../help-values.js'
import { watchInterrupts } from '../interrupt.js'
import type { CliIo } from '../io.js'
import { integerOption } from './client-common.js'

interface DevnetOptions {
  nodes?: string
  dir: string
  basePort?: string
  json?: boolean
  logLevel: string
  startTimeoutMs: string
  stopTimeoutMs: string
}

const HELP = `
A local network in one command: N daemons as child processes on 127.0.0.1, each with its own
data directory D/node-<i> (created with init on first run), an AEGIS authority key in
D/aegis-authority.json (0600, its public key in D/aegis-authority.json.pub, trusted by every node's
config.json) and the epoch snapshot it signed (node ids, loopback multiaddrs, audit public keys)
in every node's directory. Ports are chosen once (or from --base-port: node i listens on
P+2(i-1), its API on the port above) and remembered in D/devnet-state.json, so running the
command again on the same D brings back the same nodes on the same addresses with their data.
Each node's config.json belongs to the devnet and is rewritten on every start. The daemons run
with node --max-semi-space-size=1 --max-old-space-size=128 --heap-growing-percent=100 and
MALLOC_ARENA_MAX=2, which bound their memory without collecting too often (see DAEMON_NODE_ARGS in
src/daemon/devnet.ts).

Once every node is ready, D/devnet.json lists them: {"nodes": [{node_id, multiaddrs, api, pid, dir}]};
it is removed when the devnet stops.
Each node's output goes to D/node-<i>/node.log, not to the terminal. The command stays in the
foreground and restarts nothing; Ctrl-C (SIGINT), SIGTERM or SIGHUP (the terminal closed) stops
every node gracefully (SIGTERM, then SIGKILL after --stop-timeout-ms) and exits 0. Each daemon runs
with a pipe from this command on its stdin and --stop-on-stdin-eof, so if this command dies without
stopping them (SIGKILL), every daemon stops itself gracefully. If a node dies during startup, the
others are stopped and the command exits 3 with the end of that node's log. A devnet has at least
${MIN_DEVNET_NODES} nodes, the replication factor: with fewer, every write would fail.

Examples:
  qfs-node devnet --nodes 5 --dir ./devnet
  qfs-node devnet --dir ./devnet --json        # again, same nodes and ports
`

function count(text: string | undefined, name: string, min: number, max: number): number | undefined {
  return text === undefined ? undefined : integerOption(text, name, min, max)
}

export function registerDevnet(program: Command, io: CliIo): void {
  program
    .command('devnet')
    .description('run a local network of N daemons on loopback until Ctrl-C')
    .requiredOption('--dir <path>', 'the devnet directory (created on first run)')
    .option(
      '--nodes <n>',
      `number of nodes, ${MIN_DEVNET_NODES}..${MAX_DEVNET_NODES} (default 5, or as many as D already holds)`,
    )
    .option(
      '--base-port <port>',
      'first of 2N consecutive loopback ports (default: free ports below the ephemeral range, chosen once)',
    )
    .option('--json', 'print one JSON line per event (ready, exit, stopped) instead of text')
    .option('--log-level <level>', `the nodes' log level (${LOG_LEVEL_NAMES.join(', ')})`, 'info')
    .option('--start-timeout-ms <ms>', 'longest wait for every node to be ready', '60000')
    .option('--stop-timeout-ms <ms>', 'longest wait after SIGTERM before SIGKILL', '15000')
    .addHelpText('after', HELP)
    .action((opts: DevnetOptions) => runDevnet(opts, io))
}

/**
 * Devnet.prepare refuses its inputs (a node count other than the directory's, ports out of range, a
 * node's own data directory) as INVALID_INPUT, a library's word for bad input; here they are this
 * command's arguments: INVALID_ARGUMENT, as docs/operations.md names every argument error. Also
 * what `quickstart --dir` gets.
 */
export function devnetArgumentError(err: unknown): unknown {
  return err instanceof InvalidInputError ? new InvalidArgumentError(err.message, { cause: err }) : err
}

async function runDevnet(opts: DevnetOptions, io: CliIo): Promise<void> {
  if (!(LOG_LEVEL_NAMES as readonly string[]).includes(opts.logLevel)) {
    throw new InvalidArgumentError(`--log-level must be one of ${LOG_LEVEL_NAMES.join(', ')}`)
  }
  const dir = resolve(opts.dir)
  const say = (event: Record<string, unknown>, text: string) => {
    if (opts.json === true) io.stdout(`${JSON.stringify(event)}\n`)
    else io.stdout(text)
  }
  const init = {
    dir,
    nodes: count(opts.nodes, '--nodes', MIN_DEVNET_NODES, MAX_DEVNET_NODES),
    basePort: count(opts.basePort, '--base-port', 1024, 65535),
    logLevel: opts.logLevel,
    startTimeoutMs: count(opts.startTimeoutMs, '--start-timeout-ms', 1, 0x7fffffff),
    stopTimeoutMs: count(opts.stopTimeoutMs, '--stop-timeout-ms', 1, 0x7fffffff),
  }
  const { Devnet, DevnetNodeFailedError, devnetPaths } = await import('../../daemon/devnet.js')
  const devnet = await Devnet.prepare({
    ...init,
    onExit: (node, code, signal) => {
      say(
        { event: 'exit', node: node.name, node_id: node.nodeId, code, signal },
        `${node.name} exited (${signal ?? `code ${code}`}); see ${node.logPath}\n`,
      )
    },
  }).catch((err: unknown) => {
    throw devnetArgumentError(err)
  })
  // Caught until the end: a repeated Ctrl-C never cuts the graceful stop short.
  const interrupts = watchInterrupts()
  const stopRequested = interrupts.signalled
  const onExit = () => devnet.killAllNow()
  process.on('exit', onExit)
  try {
    const started = devnet.launchAll()
    const first = await Promise.race([started.then(() => undefined), stopRequested])
    if (first !== undefined) {
      // Interrupted while starting: stop what started, then report the interruption as a clean stop.
      await devnet.stop()
      await started.catch(() => {})
      say({ event: 'stopped', signal: first }, `stopped (${first})\n`)
      return
    }
    const nodes = devnet.nodes
    const file = devnetPaths(dir).devnet
    if (opts.json === true) {
      io.stdout(`${JSON.stringify({ event: 'ready', devnet: file, nodes })}\n`)
    } else {
      io.stdout(
        `devnet of ${nodes.length} nodes ready (${devnet.plan.created ? 'created' : 'reused'} ${dir})\n`,
      )
      for (const [i, n] of nodes.entries()) {
        io.stdout(`  node-${i + 1}  ${n.node_id}  ${n.multiaddrs[0] ?? ''}  api ${n.api}  pid ${n.pid}\n`)
      }
      io.stdout(`nodes listed in ${file}; logs in ${dir}/node-<i>/node.log; Ctrl-C stops them all\n`)
    }
    const signal = await stopRequested
    await devnet.stop()
    say({ event: 'stopped', signal }, `stopped (${signal})\n`)
  } catch (err) {
    if (err instanceof DevnetNodeFailedError && err.logTail !== '') {
      io.stderr(
        `--- last lines of ${err.node}'s log ---\n${err.logTail}${err.logTail.endsWith('\n') ? '' : '\n'}---\n`,
      )
    }
    throw err
  } finally {
    interrupts.dispose()
    process.off('exit', onExit)
  }
}
