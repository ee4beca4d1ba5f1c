import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { dirname, resolve } from 'node:path'
import { oneLine } from '../core/errors.js'
import { DEFAULT_SUSPECT_GRACE_MS } from '../engine/context.js'
import { DEFAULT_INBOUND_LIMITS } from '../net/libp2p-node.js'
import { DEFAULT_LIMITS } from '../net/protocols.js'
import { type ConfigField, type ConfigFlags, FIELDS } from './config-fields.js'
import { bool, host, integer, multiaddrs, type Setting, text, token, trusted } from './config-values.js'
import { dataPaths, refuseNonDirectory } from './data-dir.js'
import { type ConfigSource, InvalidConfigError } from './errors.js'
import { firstDuplicateKey } from './json-duplicates.js'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** A daemon's whole configuration, every field resolved (paths absolute, trusted keys as hex). */
export interface NodeConfig {
  dir: string
  listen: string[]
  announce: string[]
  api: { host: string; port: number; token: string | undefined }
  snapshot: string
  trustedAuthorities: string[]
  logLevel: LogLevel
  allowNoSnapshot: boolean
  limits: {
    maxContentBytes: number
    requestTimeoutMs: number
    idleTimeoutMs: number
    /** How long a write or lookup still waits for a peer that lately failed, once it can do without it. */
    suspectGraceMs: number
    /** How often connected peers are pinged to find a frozen one before a request does; 0: never. */
    probeIntervalMs: number
    shutdownTimeoutMs: number
    /** How often staged shards of abandoned writes are swept while the node runs. */
    stagingSweepIntervalMs: number
    /** A staged shard (or an idle staging stream) this old is removed by the sweep. */
    stagingMaxAgeMs: number
    /** New libp2p connections accepted per second from one remote host. */
    inboundConnectionsPerHostPerSecond: number
    /** libp2p connections in their upgrade (Noise, yamux) at once. */
    maxPendingInboundConnections: number
    /** libp2p connections from one source (IPv4 address, IPv6 /48), upgrading or open, at once. */
    maxInboundConnectionsPerHost: number
    /** Public writes this node coordinates at once; more are refused with NODE_BUSY. */
    maxConcurrentWrites: number
    /** Public reads this node serves at once; more are refused with NODE_BUSY. */
    maxConcurrentReads: number
    /** Public get_proofs this node serves at once, half of them at most for one address; more are NODE_BUSY. */
    maxConcurrentProofs: number
    /** Public listings this node coordinates at once, half of them at most for one address; more are NODE_BUSY. */
    maxConcurrentListings: number
    /** A public write delivers its content within max(this, content_size / writeMinBytesPerSecond). */
    writeMinDeadlineMs: number
    writeMinBytesPerSecond: number
    /** A public read's client takes the content at readMinBytesPerSecond after this grace of waiting. */
    readMinDeadlineMs: number
    readMinBytesPerSecond: number
  }
  storage: {
    /** Free bytes kept on the data directory's filesystem: shard data is refused below it. */
    reserveBytes: number
    /** Most shard bytes this node holds; null: as much as the disk allows. */
    capacityBytes: number | null
    /**
     * Whether what an acknowledgement promises (a commit, a home's record, a write's entry) is synced
     * to disk before it is answered; off, it survives a process crash but not a power loss.
     */
    sync: boolean
  }
}

/** Room for the audit log, checkpoints and LevelDB compactions once shard data is refused. */
export const DEFAULT_STORAGE_RESERVE_BYTES = 256 * 1024 ** 2

export { type ConfigField, type ConfigFlags, configFlags } from './config-fields.js'

/** Variables that are not settings but choose where the settings are. */
const LOCATION_ENV = new Set(['QFS_DIR', 'QFS_CONFIG'])

export interface ConfigSources {
  /** `--dir` (else `QFS_DIR`). */
  dir?: string
  /** `--config FILE` (else `QFS_CONFIG`, else `<dir>/config.json` when it exists). */
  configFile?: string
  env?: Readonly<Record<string, string | undefined>>
  flags?: ConfigFlags
  /** Base of relative paths given by env or flags (default process.cwd()). */
  cwd?: string
}

const MAX_MS = 0x7fffffff
const MAX_CONNECTIONS = 1_000_000
const MAX_CONCURRENT_WRITES = 1_000_000

/**
 * The configuration from defaults, then the config file, then `QFS_*` variables, then flags, each
 * later source overriding the earlier one field by field. Anything wrong is `INVALID_CONFIG` naming
 * the field and where the bad value came from.
 */
export async function loadConfig(sources: ConfigSources): Promise<NodeConfig> {
  const env = sources.env ?? {}
  const cwd = sources.cwd ?? process.cwd()
  const dirText = sources.dir ?? env.QFS_DIR
  if (dirText === undefined || dirText === '') {
    const source: ConfigSource =
      sources.dir !== undefined ? 'flag' : env.QFS_DIR !== undefined ? 'env' : 'default'
    throw new InvalidConfigError('dir', source, 'a data directory is required (--dir or QFS_DIR)')
  }
  const dir = resolve(cwd, dirText)
  // A file given as the directory would otherwise surface as the config file's ENOTDIR.
  await refuseNonDirectory(dir)
  const settings = new Map<ConfigField, Setting>()
  const file = await readConfigFile(configLocation(sources.configFile, env.QFS_CONFIG), dir, cwd)
  if (file !== undefined) {
    for (const [field, value] of flattenFile(file.value, file.path)) {
      settings.set(field, { value, source: 'file', where: `file ${file.path}`, base: dirname(file.path) })
    }
  }
  for (const [name, text] of Object.entries(env)) {
    const field = (Object.keys(FIELDS) as ConfigField[]).find((f) => FIELDS[f].env === name)
    if (field === undefined || text === undefined) continue
    settings.set(field, { value: text, source: 'env', where: `env ${name}`, base: cwd })
  }
  for (const [field, value] of Object.entries(sources.flags ?? {}) as [ConfigField, unknown][]) {
    if (value === undefined) continue
    if (!isField(field)) throw new InvalidConfigError(field, 'flag', 'unknown setting')
    settings.set(field, { value, source: 'flag', where: `flag ${FIELDS[field].flag}`, base: cwd })
  }
  return resolveConfig(dir, settings)
}

/**
 * `QFS_*` variables that are no setting (a typo, or another tool's such as the benchmarks'). They
 * are ignored rather than refused, since the environment is shared with everything else a shell
 * runs; the daemon logs them as a warning.
 */
export function unknownEnv(env: Readonly<Record<string, string | undefined>>): string[] {
  const known = new Set([...LOCATION_ENV, ...Object.values(FIELDS).map((f) => f.env)])
  return Object.keys(env)
    .filter((name) => name.startsWith('QFS_') && !known.has(name))
    .sort()
}

/**
 * Own names only: `in` would also find what every object inherits (`constructor`, `toString`,
 * `__proto__`), and accept those keys as settings.
 */
function isField(name: string): name is ConfigField {
  return Object.hasOwn(FIELDS, name)
}

/**
 * The file `--config` names, else `$QFS_CONFIG`: an empty variable is unset, as `QFS_DIR` is (a
 * shell's `QFS_CONFIG=`); an empty flag is refused rather than read as the working directory.
 * Undefined: `D/config.json`, if it exists.
 */
function configLocation(flag: string | undefined, variable: string | undefined) {
  if (flag === '') throw new InvalidConfigError('config', 'flag', 'must be a file path', 'flag --config')
  if (flag !== undefined) return { text: flag, source: 'flag' as const, where: 'flag --config' }
  if (variable === undefined || variable === '') return undefined
  return { text: variable, source: 'env' as const, where: 'env QFS_CONFIG' }
}

async function readConfigFile(
  given: ReturnType<typeof configLocation>,
  dir: string,
  cwd: string,
): Promise<{ path: string; value: unknown } | undefined> {
  const path = given === undefined ? dataPaths(dir).config : resolve(cwd, given.text)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if (given === undefined && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    // Unreadable is a problem of where the file was named: the flag or the variable says.
    const where = given === undefined ? `file ${path}` : `${given.where}, file ${path}`
    throw new InvalidConfigError(
      'config',
      given?.source ?? 'file',
      `cannot read: ${(err as Error).message}`,
      where,
    )
  }
  // A byte order mark is how some editors begin UTF-8; it is no part of the JSON.
  if (text.startsWith('\uFEFF')) text = text.slice(1)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    // JSON.parse quotes the text around the fault, line breaks and all: the error stays one line.
    const why = oneLine((err as Error).message)
    throw new InvalidConfigError('config', 'file', `not JSON: ${why}`, `file ${path}`)
  }
  const twice = firstDuplicateKey(text)
  if (twice !== undefined) {
    throw new InvalidConfigError(oneLine(twice), 'file', 'is set twice; keep one', `file ${path}`)
  }
  return { path, value }
}

/** The file's nested object as field paths; unknown keys and misplaced objects are errors. */
function flattenFile(value: unknown, path: string): [ConfigField, unknown][] {
  const out: [ConfigField, unknown][] = []
  const walk = (node: unknown, prefix: string) => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) {
      throw new InvalidConfigError(
        prefix === '' ? '(root)' : prefix,
        'file',
        'must be an object',
        `file ${path}`,
      )
    }
    for (const [key, v] of Object.entries(node)) {
      const field = prefix === '' ? key : `${prefix}.${key}`
      // One spelling per setting: `"limits.idle_timeout_ms"` beside `{"limits": {...}}` would give
      // it twice, the later key silently winning.
      if (key.includes('.')) {
        const nested = field.split('.').reduceRight((inner, k) => `{${JSON.stringify(k)}: ${inner}}`, '...')
        const problem = `a file key holds no dot: nest it, ${nested}`
        throw new InvalidConfigError(field, 'file', problem, `file ${path}`)
      }
      if (isField(field)) out.push([field, v])
      else if ((Object.keys(FIELDS) as string[]).some((f) => f.startsWith(`${field}.`))) walk(v, field)
      else throw new InvalidConfigError(field, 'file', 'unknown setting', `file ${path}`)
    }
  }
  walk(value, '')
  return out
}

async function resolveConfig(dir: string, settings: Map<ConfigField, Setting>): Promise<NodeConfig> {
  const get = <T>(
    field: ConfigField,
    fallback: T,
    parse: (s: Setting, fail: (p: string) => never) => T,
  ): T => {
    const s = settings.get(field)
    if (s === undefined) return fallback
    return parse(s, (problem) => {
      throw new InvalidConfigError(field, s.source, problem, s.where)
    })
  }
  const config: NodeConfig = {
    dir,
    listen: get('listen', ['/ip4/127.0.0.1/tcp/0'], (s, fail) => multiaddrs(s, fail, true)),
    announce: get('announce', [], (s, fail) => multiaddrs(s, fail, false)),
    api: {
      host: get('api.host', '127.0.0.1', host),
      port: get('api.port', 0, (s, fail) => integer(s, fail, 0, 65535)),
      token: get<string | undefined>('api.token', undefined, token),
    },
    snapshot: get('snapshot', dataPaths(dir).snapshot, (s, fail) => resolve(s.base, text(s, fail))),
    trustedAuthorities: await trusted(settings.get('trusted_authorities')),
    logLevel: get('log_level', 'info', (s, fail) => {
      const v = text(s, fail)
      if (!(LOG_LEVELS as readonly string[]).includes(v)) fail(`must be one of ${LOG_LEVELS.join(', ')}`)
      return v as LogLevel
    }),
    allowNoSnapshot: get('allow_no_snapshot', false, bool),
    limits: {
      maxContentBytes: get('limits.max_content_bytes', 64 * 1024 ** 3, (s, fail) =>
        integer(s, fail, 1, Number.MAX_SAFE_INTEGER),
      ),
      requestTimeoutMs: get('limits.request_timeout_ms', 10_000, (s, fail) => integer(s, fail, 1, MAX_MS)),
      idleTimeoutMs: get('limits.idle_timeout_ms', 30_000, (s, fail) => integer(s, fail, 1, MAX_MS)),
      suspectGraceMs: get('limits.suspect_grace_ms', DEFAULT_SUSPECT_GRACE_MS, (s, fail) =>
        integer(s, fail, 0, MAX_MS),
      ),
      probeIntervalMs: get('limits.probe_interval_ms', 5_000, (s, fail) => integer(s, fail, 0, MAX_MS)),
      shutdownTimeoutMs: get('limits.shutdown_timeout_ms', 10_000, (s, fail) => integer(s, fail, 1, MAX_MS)),
      stagingSweepIntervalMs: get('limits.staging_sweep_interval_ms', 5 * 60_000, (s, fail) =>
        integer(s, fail, 1, MAX_MS),
      ),
      stagingMaxAgeMs: get('limits.staging_max_age_ms', 15 * 60_000, (s, fail) =>
        integer(s, fail, 1, MAX_MS),
      ),
      inboundConnectionsPerHostPerSecond: get(
        'limits.inbound_connections_per_host_per_second',
        DEFAULT_INBOUND_LIMITS.perHostPerSecond,
        (s, fail) => integer(s, fail, 1, MAX_CONNECTIONS),
      ),
      maxPendingInboundConnections: get(
        'limits.max_pending_inbound_connections',
        DEFAULT_INBOUND_LIMITS.maxPending,
        (s, fail) => integer(s, fail, 1, MAX_CONNECTIONS),
      ),
      maxInboundConnectionsPerHost: get(
        'limits.max_inbound_connections_per_host',
        DEFAULT_INBOUND_LIMITS.perHost,
        (s, fail) => integer(s, fail, 1, MAX_CONNECTIONS),
      ),
      maxConcurrentReads: get('limits.max_concurrent_reads', DEFAULT_LIMITS.maxConcurrentReads, (s, fail) =>
        integer(s, fail, 1, MAX_CONCURRENT_WRITES),
      ),
      maxConcurrentWrites: get(
        'limits.max_concurrent_writes',
        DEFAULT_LIMITS.maxConcurrentWrites,
        (s, fail) => integer(s, fail, 1, MAX_CONCURRENT_WRITES),
      ),
      maxConcurrentProofs: get(
        'limits.max_concurrent_proofs',
        DEFAULT_LIMITS.maxConcurrentProofs,
        (s, fail) => integer(s, fail, 1, MAX_CONCURRENT_WRITES),
      ),
      maxConcurrentListings: get(
        'limits.max_concurrent_listings',
        DEFAULT_LIMITS.maxConcurrentListings,
        (s, fail) => integer(s, fail, 1, MAX_CONCURRENT_WRITES),
      ),
      writeMinDeadlineMs: get('limits.write_min_deadline_ms', DEFAULT_LIMITS.writeMinDeadlineMs, (s, fail) =>
        integer(s, fail, 1, MAX_MS),
      ),
      writeMinBytesPerSecond: get(
        'limits.write_min_bytes_per_second',
        DEFAULT_LIMITS.writeMinBytesPerSecond,
        (s, fail) => integer(s, fail, 1, Number.MAX_SAFE_INTEGER),
      ),
      readMinDeadlineMs: get('limits.read_min_deadline_ms', DEFAULT_LIMITS.readMinDeadlineMs, (s, fail) =>
        integer(s, fail, 1, MAX_MS),
      ),
      readMinBytesPerSecond: get(
        'limits.read_min_bytes_per_second',
        DEFAULT_LIMITS.readMinBytesPerSecond,
        (s, fail) => integer(s, fail, 1, Number.MAX_SAFE_INTEGER),
      ),
    },
    storage: {
      reserveBytes: get('storage.reserve_bytes', DEFAULT_STORAGE_RESERVE_BYTES, (s, fail) =>
        integer(s, fail, 0, Number.MAX_SAFE_INTEGER),
      ),
      capacityBytes: get<number | null>('storage.capacity_bytes', null, (s, fail) =>
        integer(s, fail, 1, Number.MAX_SAFE_INTEGER),
      ),
      sync: get('storage.sync', true, bool),
    },
  }
  // A staged shard waits for its commit while the write's other shards still stream; the idle
  // timeout bounds each silence of such a write, so a shorter age could sweep a live write's shards.
  if (config.limits.stagingMaxAgeMs < config.limits.idleTimeoutMs) {
    const age = settings.get('limits.staging_max_age_ms')
    const [field, s] = age
      ? (['limits.staging_max_age_ms', age] as const)
      : (['limits.idle_timeout_ms', settings.get('limits.idle_timeout_ms')!] as const)
    throw new InvalidConfigError(
      field,
      s.source,
      `limits.staging_max_age_ms (${config.limits.stagingMaxAgeMs}) must be at least limits.idle_timeout_ms (${config.limits.idleTimeoutMs})`,
      s.where,
    )
  }
  // The API answers about the node and lists its objects: off the loopback it must ask who is calling.
  if (!isLoopback(config.api.host) && config.api.token === undefined) {
    const s = settings.get('api.host')!
    throw new InvalidConfigError(
      'api.token',
      s.source,
      `required when api.host (${config.api.host}) is not loopback`,
      s.where,
    )
  }
  return config
}

/** 127.0.0.0/8, ::1 and localhost: an API there is reachable from this machine only. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1' || host === '[::1]') return true
  return isIP(host) === 4 && host.startsWith('127.')
}
