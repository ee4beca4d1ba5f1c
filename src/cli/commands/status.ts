import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Command } from 'commander'
import type { NodeStatus } from '../../api/app.js'
import { QfsError } from '../../core/errors.js'
import { NotRunningError } from '../../daemon/errors.js'
import { NodeUnavailableError } from '../../engine/errors.js'
import { NODE_FILE, NotANodeDirError } from '../../node/identity.js'
import { InvalidArgumentError, unreadableFile } from '../errors.js'
import { type CliIo, printJson } from '../io.js'
import { integerOption, printable } from './client-common.js'

interface StatusOptions {
  api?: string
  dir?: string
  apiToken?: string
  json?: boolean
  timeoutMs: string
}

export function registerStatus(program: Command, io: CliIo): void {
  program
    .command('status')
    .description("a running node's status from its operator API (/v1/status)")
    .option('--api <url>', 'operator API URL, e.g. http://127.0.0.1:8080')
    .option('--dir <dir>', 'node data directory: the API URL comes from its run.json (default $QFS_DIR)')
    .option('--api-token <token>', 'bearer token (default $QFS_API_TOKEN)')
    .option('--timeout-ms <n>', 'how long to wait for the answer', '5000')
    .option('--json', 'print the status as JSON')
    .action(async (opts: StatusOptions) => {
      const status = await fetchStatus(
        await apiUrlOf(opts),
        opts.apiToken ?? process.env.QFS_API_TOKEN,
        timeout(opts),
      )
      if (opts.json === true) printJson(io, status)
      else io.stdout(formatStatus(status))
    })
}

async function apiUrlOf(opts: StatusOptions): Promise<string> {
  if (opts.api !== undefined && opts.dir !== undefined)
    throw new InvalidArgumentError('give --api or --dir, not both')
  if (opts.api !== undefined) {
    let url: URL
    try {
      url = new URL(opts.api)
    } catch {
      throw new InvalidArgumentError(`--api ${opts.api} is not a URL`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new InvalidArgumentError('--api must be http(s)')
    return opts.api.replace(/\/+$/, '')
  }
  const dir = opts.dir ?? process.env.QFS_DIR
  if (dir === undefined || dir === '')
    throw new InvalidArgumentError('give --api URL or --dir DIR (or set QFS_DIR)')
  const { processAlive, readRunInfo, refuseNonDirectory } = await import('../../daemon/data-dir.js')
  await refuseNonDirectory(dir)
  await refuseNonNodeDirectory(dir)
  let run: Awaited<ReturnType<typeof readRunInfo>>
  try {
    run = await readRunInfo(dir)
  } catch (err) {
    throw unreadableFile(join(dir, 'run.json'), err)
  }
  if (run === undefined) throw new NotRunningError(`no node is running in ${dir} (no run.json)`)
  // A node killed without its clean stop leaves run.json behind: its API would only refuse the call.
  if (!processAlive(run.pid)) {
    throw new NotRunningError(
      `no node is running in ${dir} (stale run.json: pid ${run.pid} is not alive; the node stopped without removing it)`,
    )
  }
  return run.api
}

/**
 * `NOT_A_NODE_DIR`, as the other commands on a data directory say, for a directory that does not
 * exist or holds no node.json; a devnet's own directory is named as such, with the way to its nodes.
 */
async function refuseNonNodeDirectory(dir: string): Promise<void> {
  if (await present(join(dir, NODE_FILE))) return
  if (!(await present(dir))) throw new NotANodeDirError(`${dir}: no such directory`)
  const { devnetPaths } = await import('../../daemon/devnet-plan.js')
  if (await present(devnetPaths(dir).state)) {
    throw new NotANodeDirError(
      `${dir} is a devnet directory, not a node's: give one of its nodes, --dir ${devnetPaths(dir).node(1)} (node-<i> for node i)`,
    )
  }
  throw new NotANodeDirError(`${dir} has no ${NODE_FILE}: it is not a node's data directory`)
}

/** Whether `path` exists; a refusal other than "nothing there" is the file system's error, in our words. */
async function present(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw unreadableFile(path, err)
  }
}

function timeout(opts: StatusOptions): number {
  // The longest delay a timer takes: AbortSignal.timeout fires at once (with a warning) after more.
  return integerOption(opts.timeoutMs, '--timeout-ms', 1, 0x7fffffff)
}

async function fetchStatus(api: string, token: string | undefined, timeoutMs: number): Promise<NodeStatus> {
  let res: Response
  try {
    res = await fetch(`${api}/v1/status`, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (err) {
    throw new NodeUnavailableError(`no answer from ${api} (${fetchFailure(err, timeoutMs)})`, { cause: err })
  }
  let body: unknown
  try {
    body = await res.json()
  } catch (err) {
    throw new NodeUnavailableError(`${api} did not answer JSON (HTTP ${res.status})`, { cause: err })
  }
  if (!res.ok) {
    const b = body as { code?: unknown; message?: unknown }
    // Whatever answers at the URL chose these: a code is kept only in the form of ours, and control
    // characters in the message are escaped, so an ESC or a newline cannot rewrite the terminal or
    // add a line of its own to the one error line.
    const code = typeof b?.code === 'string' && ERROR_CODE.test(b.code) ? b.code : `HTTP_${res.status}`
    const message = typeof b?.message === 'string' ? printable(b.message) : `HTTP ${res.status}`
    throw new QfsError(code, `${api}: ${message}`)
  }
  const wrong = statusProblem(body)
  if (wrong !== undefined) {
    throw new NodeUnavailableError(
      `${api} did not answer a node status (${wrong}); is that a qfs-node operator API? The API URL is "api" in run.json or devnet.json`,
    )
  }
  return body as NodeStatus
}

/** An error code as the node's API sends them (`NO_SNAPSHOT`, `UNAUTHORIZED`, ...). */
const ERROR_CODE = /^[A-Z][A-Z0-9_]{0,63}$/

const isNumber = (v: unknown) => typeof v === 'number'
const isString = (v: unknown) => typeof v === 'string'
const isStrings = (v: unknown) => Array.isArray(v) && v.every(isString)
const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v)

/**
 * What is wrong with a 200 answer as a node status, for the fields formatStatus reads, or undefined.
 * The URL may name another HTTP service that answers JSON (a proxy, another program's API): without
 * this check a field it lacks ended the command with a TypeError and its stack trace. Fields a newer
 * node adds pass; an older node's answer may lack `space` and `suspect_peers`.
 */
function statusProblem(body: unknown): string | undefined {
  if (!isObject(body)) return 'not a JSON object'
  const checks: Array<[string, unknown, (v: unknown) => boolean]> = [
    ['node_id', body.node_id, isString],
    ['version', body.version, isString],
    ['ready', body.ready, (v) => typeof v === 'boolean'],
    ['epoch', body.epoch, (v) => v === null || isNumber(v)],
    ['snapshot_hash', body.snapshot_hash, (v) => v === null || isString(v)],
    ['peers', body.peers, isNumber],
    ['uptime_seconds', body.uptime_seconds, isNumber],
    ['multiaddrs', body.multiaddrs, isStrings],
    ['suspect_peers', body.suspect_peers, (v) => v === undefined || isStrings(v)],
  ]
  const store = body.store
  if (!isObject(store)) return 'store: not an object'
  for (const k of ['objects', 'versions', 'shards', 'bytes_stored'])
    checks.push([`store.${k}`, store[k], isNumber])
  const log = body.log
  if (!isObject(log)) return 'log: not an object'
  for (const k of ['entries', 'checkpoints', 'covered_entries']) checks.push([`log.${k}`, log[k], isNumber])
  const space = body.space
  if (space !== undefined && space !== null) {
    if (!isObject(space)) return 'space: not an object'
    checks.push(
      ['space.free_bytes', space.free_bytes, isNumber],
      ['space.reserve_bytes', space.reserve_bytes, isNumber],
      ['space.capacity_bytes', space.capacity_bytes, (v) => v === null || isNumber(v)],
      ['space.accepting_writes', space.accepting_writes, (v) => typeof v === 'boolean'],
    )
  }
  const bad = checks.find(([, value, ok]) => !ok(value))
  return bad === undefined
    ? undefined
    : `${bad[0]}: ${bad[1] === undefined ? 'missing' : 'of the wrong type'}`
}

/**
 * Why fetch failed: it throws a bare `TypeError: fetch failed` and keeps the reason in its cause
 * (the socket's errno, or undici's own words such as "bad port").
 */
function fetchFailure(err: unknown, timeoutMs: number): string {
  const e = err as { name?: unknown; cause?: { code?: unknown; message?: unknown } }
  if (e?.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`
  const code = e?.cause?.code
  // What a libp2p listener does with HTTP: it reads no multistream header and drops the connection.
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET')
    return `${code}: the connection was closed without an HTTP answer; is that a libp2p port? The API URL is "api" in run.json or devnet.json`
  if (typeof code === 'string') return code
  const message = e?.cause?.message
  // Fetch refuses the ports of the WHATWG "bad port" list (1, 22, 25, ...) before connecting.
  if (message === 'bad port') return 'bad port: fetch refuses to connect to this port; use another API port'
  if (typeof message === 'string' && message !== '') return message
  return err instanceof Error ? err.message : String(err)
}

export function formatStatus(s: NodeStatus): string {
  const rows: [string, string][] = [
    ['node', s.node_id],
    ['version', s.version],
    ['ready', s.ready ? 'yes' : 'no'],
    ['epoch', s.epoch === null ? 'none (no snapshot loaded)' : `${s.epoch} (snapshot ${s.snapshot_hash})`],
    [
      'peers',
      // An older node has no suspect list.
      `${s.peers}${(s.suspect_peers ?? []).length === 0 ? '' : ` (suspect: ${s.suspect_peers.join(', ')})`}`,
    ],
    [
      'store',
      `${s.store.objects} objects, ${s.store.versions} versions, ${s.store.shards} shards, ${s.store.bytes_stored} bytes`,
    ],
    ['log', `${s.log.entries} entries, ${s.log.checkpoints} checkpoints covering ${s.log.covered_entries}`],
    // An older node has no space figure (undefined), one without a space guard null.
    ...(s.space == null ? [] : [['space', formatSpace(s.space)] as [string, string]]),
    ['uptime', `${s.uptime_seconds} s`],
    ...s.multiaddrs.map((a): [string, string] => ['listen', a]),
  ]
  // The strings come from whatever answered: control characters are escaped (see fetchStatus).
  return rows.map(([k, v]) => `${k.padEnd(8)} ${printable(v)}\n`).join('')
}

function formatSpace(s: NonNullable<NodeStatus['space']>): string {
  const quota = s.capacity_bytes === null ? '' : `, capacity ${s.capacity_bytes} bytes`
  const state = s.accepting_writes ? 'accepting writes' : 'FULL: refusing new shards (STORAGE_FULL)'
  return `${s.free_bytes} bytes free, ${s.reserve_bytes} kept in reserve${quota}; ${state}`
}
