import { type ChildProcess, spawn } from 'node:child_process'
import { open, rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { InvalidInputError, QfsError } from '../core/errors.js'
import { DEFAULT_PARAMS } from '../core/params.js'
import { writeAtomic } from './data-dir.js'
import {
  type DevnetPlan,
  devnetPaths,
  type PlannedNode,
  type PrepareInit,
  prepareDevnet,
} from './devnet-plan.js'
import { waitForReadyLine } from './ready-line.js'

export type { DevnetPlan, PlannedNode, PrepareInit } from './devnet-plan.js'
export { DEFAULT_DEVNET_NODES, devnetPaths, MAX_DEVNET_NODES, prepareDevnet } from './devnet-plan.js'

/**
 * The fewest nodes a devnet runs: every shard goes to replication_factor distinct nodes, so with
 * fewer every write fails with INSUFFICIENT_NODES (`devnet` and `quickstart` refuse less).
 */
export const MIN_DEVNET_NODES = DEFAULT_PARAMS.replicationFactor

/** A daemon of the devnet that exited or never said it was ready; carries the end of its log. */
export class DevnetNodeFailedError extends QfsError {
  static readonly code = 'DEVNET_NODE_FAILED'
  readonly node: string
  readonly logTail: string

  constructor(node: string, message: string, logTail: string, options?: ErrorOptions) {
    super(DevnetNodeFailedError.code, message, options)
    this.node = node
    this.logTail = logTail
  }
}

/** One running node as `devnet.json` lists it. */
export interface DevnetNodeInfo {
  node_id: string
  multiaddrs: string[]
  api: string
  pid: number
  dir: string
}

export interface DevnetInit extends PrepareInit {
  /** The CLI entry the daemons run (default: this package's bin/qfs-node.js). */
  bin?: string
  /** Longest wait for every daemon's ready line (default 60 s). */
  startTimeoutMs?: number
  /** Longest wait after SIGTERM before SIGKILL (default 15 s: above the daemon's own shutdown bound). */
  stopTimeoutMs?: number
  /** Called when a daemon exits after it was ready (the devnet restarts nothing). */
  onExit?: (node: PlannedNode, code: number | null, signal: NodeJS.Signals | null) => void
  /** Extra environment for the daemons. */
  env?: Record<string, string>
  /** Node.js options for the daemons (default DAEMON_NODE_ARGS). */
  nodeArgs?: string[]
}

/**
 * Runtime settings the daemons run with, measured on this project's workloads:
 * - a 1 MiB V8 young generation, so the short-lived buffers of a transfer (each 64 KiB Noise
 *   message, each block) are freed within milliseconds instead of piling up: a daemon's peak RSS
 *   during a 64 MiB write drops from about 200-300 MiB to about 140-200 MiB at the same throughput;
 * - a 128 MiB old generation, so what a small young generation promotes is collected before it
 *   piles up: over 800 small writes the coordinator stays near 130 MiB instead of climbing to
 *   240 MiB (its live heap is about 40 MiB);
 * - an old generation that may double between major collections (V8 otherwise grows a heap capped
 *   this small by 1.3x): a transfer promotes a few MiB of stream bookkeeping per second, and with a
 *   27 MiB live heap and 1.3x growth V8 ran a full mark-compact about every 100 ms, a third of a
 *   node's CPU in a bulk read or write. Doubling cut the reading node's CPU per MiB by half and
 *   the coordinator's in a write by a third, for a few MiB more heap.
 * Together with DAEMON_ENV (fewer glibc malloc arenas) it is what an operator should run
 * `qfs-node start` with on a small machine.
 */
export const DAEMON_NODE_ARGS: readonly string[] = Object.freeze([
  '--max-semi-space-size=1',
  '--max-old-space-size=128',
  '--heap-growing-percent=100',
])
export const DAEMON_ENV: Readonly<Record<string, string>> = Object.freeze({ MALLOC_ARENA_MAX: '2' })

const DEFAULT_BIN = fileURLToPath(new URL('../../bin/qfs-node.js', import.meta.url))
const LOG_TAIL_BYTES = 4096

interface Child {
  plan: PlannedNode
  process: ChildProcess
  info: DevnetNodeInfo | undefined
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
}

/**
 * N real daemons on loopback, each a child process (`qfs-node start --dir D/node-<i>`) whose stdout
 * and stderr go to `D/node-<i>/node.log`. `start` resolves once every daemon printed its ready line
 * and `D/devnet.json` lists them all; a daemon that dies before that stops the others and fails the
 * start with its log tail. Nothing is restarted automatically; `restart(i)` exists for tests.
 */
export class Devnet {
  readonly plan: DevnetPlan
  private readonly init: DevnetInit
  private readonly children: Array<Child | undefined>
  private stopping: Promise<void> | undefined

  private constructor(plan: DevnetPlan, init: DevnetInit) {
    this.plan = plan
    this.init = init
    this.children = plan.nodes.map(() => undefined)
  }

  /** Prepares the directory (see prepareDevnet) and starts every daemon. */
  static async start(init: DevnetInit): Promise<Devnet> {
    const devnet = await Devnet.prepare(init)
    await devnet.launchAll()
    return devnet
  }

  /**
   * Prepares the directory without starting anything (`launchAll` starts the daemons). Fewer than
   * MIN_DEVNET_NODES nodes (asked for, or remembered by the directory) is refused.
   */
  static async prepare(init: DevnetInit): Promise<Devnet> {
    if (init.nodes !== undefined && init.nodes < MIN_DEVNET_NODES) throw tooFewNodes(init.nodes)
    const plan = await prepareDevnet(init)
    if (plan.nodes.length < MIN_DEVNET_NODES) throw tooFewNodes(plan.nodes.length)
    return new Devnet(plan, init)
  }

  /** Starts every daemon at once and writes `devnet.json` when all are ready; on failure stops them all. */
  async launchAll(): Promise<DevnetNodeInfo[]> {
    // A devnet that was killed (SIGKILL) could not remove its list; nobody may dial its dead pids
    // while this one starts. prepareDevnet already refused the directory if a devnet runs in it.
    await rm(devnetPaths(this.plan.dir).devnet, { force: true })
    try {
      await Promise.all(this.plan.nodes.map((node) => this.launch(node)))
    } catch (err) {
      await this.stop()
      throw err
    }
    await this.writeDevnetFile()
    return this.nodes
  }

  /** The nodes as `devnet.json` lists them (the latest start of each). */
  get nodes(): DevnetNodeInfo[] {
    return this.children.map((c, i) => {
      if (c?.info === undefined) throw new DevnetNodeFailedError(this.plan.nodes[i]!.name, 'not running', '')
      return c.info
    })
  }

  /** Whether node `index` (1-based) is running. */
  running(index: number): boolean {
    const c = this.children[index - 1]
    return c !== undefined && c.exit === undefined
  }

  /** Sends `signal` to node `index` (1-based) and waits for it to exit. */
  async kill(
    index: number,
    signal: NodeJS.Signals = 'SIGTERM',
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const child = this.child(index)
    if (child.exit === undefined) child.process.kill(signal)
    return child.exited
  }

  /** Starts node `index` (1-based) again on its directory and ports; resolves with its new info. */
  async restart(index: number): Promise<DevnetNodeInfo> {
    const child = this.child(index)
    if (child.exit === undefined)
      throw new DevnetNodeFailedError(child.plan.name, `${child.plan.name} is still running`, '')
    const info = await this.launch(child.plan)
    await this.writeDevnetFile()
    return info
  }

  /**
   * SIGTERM to every daemon, SIGKILL to those still running after the bound, then removes
   * `devnet.json`; never throws.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const bound = this.init.stopTimeoutMs ?? 15_000
      await Promise.all(
        this.children.map(async (child) => {
          if (child === undefined) return
          if (child.exit === undefined) {
            child.process.kill('SIGTERM')
            let timer: NodeJS.Timeout | undefined
            const timedOut = await Promise.race([
              child.exited.then(() => false),
              new Promise<boolean>((resolve) => {
                timer = setTimeout(() => resolve(true), bound)
              }),
            ])
            clearTimeout(timer)
            if (timedOut && child.exit === undefined) {
              child.process.kill('SIGKILL')
              await child.exited
            }
          }
        }),
      )
      // The list is for a running devnet's users: a stopped devnet leaves none to read.
      await rm(devnetPaths(this.plan.dir).devnet, { force: true }).catch(() => {})
    })()
    return this.stopping
  }

  /** Kills every daemon at once without waiting: for a parent that is exiting. */
  killAllNow(): void {
    for (const child of this.children)
      if (child !== undefined && child.exit === undefined) child.process.kill('SIGKILL')
  }

  private child(index: number): Child {
    const child = this.children[index - 1]
    if (child === undefined) throw new RangeError(`no devnet node ${index}`)
    return child
  }

  private async writeDevnetFile(): Promise<void> {
    await writeAtomic(
      devnetPaths(this.plan.dir).devnet,
      `${JSON.stringify({ nodes: this.nodes }, null, 2)}\n`,
      0o644,
    )
  }

  private async launch(plan: PlannedNode): Promise<DevnetNodeInfo> {
    if (this.stopping !== undefined) throw new DevnetNodeFailedError(plan.name, 'the devnet is stopping', '')
    // The daemon's stdout and stderr are its log file itself, not pipes through this process: what
    // it writes while it stops after this process is gone (killed outright) still reaches the log.
    const log = await open(plan.logPath, 'a', 0o644)
    let logFrom: number
    try {
      logFrom = (await log.stat()).size
    } catch (err) {
      await log.close()
      throw err
    }
    // Looked at again after the wait: `stop()` takes its list of children at once, so a daemon
    // spawned after it began would be left running.
    if (this.stopping !== undefined) {
      await log.close()
      throw new DevnetNodeFailedError(plan.name, 'the devnet is stopping', '')
    }
    // Its own process group: a Ctrl-C at the terminal reaches the devnet only, which then stops the
    // daemons in order instead of all of them racing to exit at once. That also means nothing the
    // terminal does reaches a daemon once the devnet is gone, so each daemon gets a pipe on stdin
    // that this process never writes to: when this process ends, however it ends (SIGKILL included),
    // the kernel closes the pipe and `--stop-on-stdin-eof` stops the daemon gracefully. The daemons
    // then remove devnet.json, which a devnet that was killed could not remove itself.
    const args = [
      ...(this.init.nodeArgs ?? DAEMON_NODE_ARGS),
      this.init.bin ?? DEFAULT_BIN,
      'start',
      '--dir',
      plan.dir,
      '--stop-on-stdin-eof',
      '--remove-on-stdin-eof',
      devnetPaths(this.plan.dir).devnet,
    ]
    let proc: ChildProcess
    try {
      proc = spawn(process.execPath, args, {
        stdio: ['pipe', log.fd, log.fd],
        detached: true,
        env: { ...DAEMON_ENV, ...process.env, ...(this.init.env ?? {}) },
      })
    } catch (err) {
      await log.close()
      throw err
    }
    // Nothing is written, so only a daemon that already exited could fail the pipe; that is reported
    // by its exit, not here.
    proc.stdin!.on('error', () => {})
    const child: Child = {
      plan,
      process: proc,
      info: undefined,
      exit: undefined,
      exited: new Promise((resolve) => {
        proc.once('exit', (code, signal) => {
          proc.stdin!.destroy()
          child.exit = { code, signal }
          resolve(child.exit)
        })
      }),
    }
    // Listed before anything is awaited: a `stop()` that began while the log was being closed would
    // not have seen this daemon, and would have left it running until it noticed its stdin end.
    this.children[plan.index - 1] = child
    // The daemon holds its own descriptors of the file now.
    await log.close()
    const watching = new AbortController()
    const ready = waitForReadyLine(plan.logPath, logFrom, watching.signal).then((line) => line ?? never)
    ready.catch(() => {}) // a failure after the race was decided is nobody's to hear
    const startTimeoutMs = this.init.startTimeoutMs ?? 60_000
    let timer: NodeJS.Timeout | undefined
    const outcome = await Promise.race([
      ready,
      child.exited.then((e) => ({ exited: e })),
      new Promise<{ timeout: true }>((resolve) => {
        timer = setTimeout(() => resolve({ timeout: true }), startTimeoutMs)
      }),
      new Promise<{ spawnError: Error }>((resolve) =>
        proc.once('error', (err) => resolve({ spawnError: err })),
      ),
    ]).finally(() => watching.abort())
    clearTimeout(timer)
    if ('node_id' in outcome) {
      if (outcome.node_id !== plan.nodeId) {
        proc.kill('SIGKILL')
        throw new DevnetNodeFailedError(
          plan.name,
          `${plan.name} started as ${outcome.node_id}, not ${plan.nodeId}`,
          '',
        )
      }
      child.info = { ...outcome, pid: proc.pid!, dir: plan.dir }
      child.exited.then((e) => {
        if (this.stopping === undefined) this.init.onExit?.(plan, e.code, e.signal)
      })
      return child.info
    }
    if ('timeout' in outcome) proc.kill('SIGKILL')
    await Promise.race([child.exited, new Promise((r) => setTimeout(r, 2_000))])
    const why =
      'timeout' in outcome
        ? `did not become ready within ${startTimeoutMs} ms`
        : 'spawnError' in outcome
          ? `could not be started: ${outcome.spawnError.message}`
          : `exited during startup (${outcome.exited.signal ?? `code ${outcome.exited.code}`})`
    const tail = await logTail(plan.logPath)
    throw new DevnetNodeFailedError(plan.name, `${plan.name} ${why}; see ${plan.logPath}`, tail)
  }
}

/** A promise that never settles: a ready watch that was stopped loses every race. */
const never = new Promise<never>(() => {})

/** The last few KiB of a log file, for an error message. */
export async function logTail(path: string, bytes = LOG_TAIL_BYTES): Promise<string> {
  try {
    const fh = await open(path, 'r')
    try {
      const { size } = await fh.stat()
      const start = Math.max(0, size - bytes)
      const buf = Buffer.alloc(size - start)
      await fh.read(buf, 0, buf.length, start)
      const text = buf.toString('utf8')
      return start > 0 ? text.slice(text.indexOf('\n') + 1) : text
    } finally {
      await fh.close()
    }
  } catch {
    return ''
  }
}

function tooFewNodes(count: number): InvalidInputError {
  return new InvalidInputError(
    `a devnet needs at least ${MIN_DEVNET_NODES} nodes (the replication factor), not ${count}`,
  )
}
