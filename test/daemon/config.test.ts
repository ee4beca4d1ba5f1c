import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { toHex } from '../../src/core/bytes.js'
import {
  type ConfigFlags,
  type ConfigSources,
  isLoopback,
  loadConfig,
  unknownEnv,
} from '../../src/daemon/config.js'
import { InvalidConfigError } from '../../src/daemon/errors.js'
import { generateAuditKey } from '../../src/log/keys.js'

const KEY = toHex(generateAuditKey(new Uint8Array(32).fill(3)).publicKey)
const KEY2 = toHex(generateAuditKey(new Uint8Array(32).fill(4)).publicKey)

let root: string
let dir: string

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-config-'))
  dir = join(root, 'node')
  await mkdir(join(root, 'keys'), { recursive: true })
  await writeFile(join(root, 'keys', 'a.pub'), `${KEY}\n`)
  await writeFile(
    join(root, 'keys', 'b.json'),
    JSON.stringify({ schema: 'qfs-authority-key/1', public_key: KEY2 }),
  )
})

afterAll(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true })
})

async function withFile(name: string, value: unknown): Promise<string> {
  const path = join(root, name)
  await writeFile(path, typeof value === 'string' ? value : JSON.stringify(value))
  return path
}

async function configError(sources: Partial<ConfigSources>): Promise<InvalidConfigError> {
  try {
    await loadConfig({ dir, env: {}, cwd: root, ...sources })
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidConfigError)
    return err as InvalidConfigError
  }
  throw new Error('expected INVALID_CONFIG')
}

describe('loadConfig', () => {
  it('has defaults for everything but the directory', async () => {
    const c = await loadConfig({ dir: 'node', env: {}, cwd: root })
    expect(c).toEqual({
      dir,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      announce: [],
      api: { host: '127.0.0.1', port: 0, token: undefined },
      snapshot: join(dir, 'snapshot.json'),
      trustedAuthorities: [],
      logLevel: 'info',
      allowNoSnapshot: false,
      limits: {
        maxContentBytes: 64 * 1024 ** 3,
        requestTimeoutMs: 10_000,
        idleTimeoutMs: 30_000,
        suspectGraceMs: 500,
        probeIntervalMs: 5_000,
        shutdownTimeoutMs: 10_000,
        stagingSweepIntervalMs: 300_000,
        stagingMaxAgeMs: 900_000,
        inboundConnectionsPerHostPerSecond: 100,
        maxPendingInboundConnections: 64,
        maxInboundConnectionsPerHost: 64,
        maxConcurrentWrites: 32,
        maxConcurrentReads: 32,
        maxConcurrentProofs: 16,
        maxConcurrentListings: 4,
        writeMinDeadlineMs: 60_000,
        writeMinBytesPerSecond: 65_536,
        readMinDeadlineMs: 60_000,
        readMinBytesPerSecond: 65_536,
      },
      storage: { reserveBytes: 256 * 1024 * 1024, capacityBytes: null, sync: true },
    })
  })

  it('reads a file that begins with a byte order mark, as some editors write UTF-8', async () => {
    const file = await withFile('bom.json', `\uFEFF${JSON.stringify({ log_level: 'debug' })}`)
    const c = await loadConfig({ dir, configFile: file, env: {}, cwd: root })
    expect(c.logLevel).toBe('debug')
  })

  it('says in one line why a file is not JSON, however the text around the fault breaks', async () => {
    const err = await configError({ configFile: await withFile('lines.json', 'not json{\n\r\t}\n') })
    expect(err.message).toMatch(/^config \(file .*lines\.json\): not JSON: /)
    expect(err.message).not.toMatch(/\p{Cc}/u)
    expect(err.message).toContain('\\n')
  })

  it('reads the inbound connection limits from the file, env and flags', async () => {
    const file = await withFile('inbound.json', { limits: { max_pending_inbound_connections: 8 } })
    const c = await loadConfig({
      dir,
      configFile: file,
      env: {
        QFS_INBOUND_CONNECTIONS_PER_HOST_PER_SECOND: '20',
        QFS_MAX_INBOUND_CONNECTIONS_PER_HOST: '7',
        QFS_MAX_CONCURRENT_PROOFS: '40',
      },
      cwd: root,
      flags: { 'limits.max_pending_inbound_connections': '9', 'limits.max_concurrent_listings': '6' },
    })
    expect(c.limits).toMatchObject({
      inboundConnectionsPerHostPerSecond: 20,
      maxPendingInboundConnections: 9,
      maxInboundConnectionsPerHost: 7,
      maxConcurrentProofs: 40,
      maxConcurrentListings: 6,
    })
  })

  it('reads the staging sweep settings from every source', async () => {
    const file = await withFile('sweep.json', { limits: { staging_sweep_interval_ms: 1000 } })
    const c = await loadConfig({
      dir,
      configFile: file,
      env: { QFS_STAGING_MAX_AGE_MS: '60000' },
      cwd: root,
    })
    expect(c.limits).toMatchObject({ stagingSweepIntervalMs: 1000, stagingMaxAgeMs: 60_000 })
    const f = await loadConfig({
      dir,
      env: {},
      cwd: root,
      flags: { 'limits.staging_sweep_interval_ms': '7', 'limits.staging_max_age_ms': '30000' },
    })
    expect(f.limits).toMatchObject({ stagingSweepIntervalMs: 7, stagingMaxAgeMs: 30_000 })
  })

  it('layers flags over env over file over defaults, field by field', async () => {
    const file = await withFile('layers.json', {
      listen: ['/ip4/127.0.0.1/tcp/4100'],
      api: { port: 1000, host: 'localhost' },
      log_level: 'warn',
      limits: { idle_timeout_ms: 111 },
    })
    const env = { QFS_API_PORT: '2000', QFS_LOG_LEVEL: 'debug', QFS_IDLE_TIMEOUT_MS: '222' }
    const flags: ConfigFlags = { 'api.port': '3000' }
    const c = await loadConfig({ dir, configFile: file, env, flags, cwd: root })
    expect(c.api).toEqual({ host: 'localhost', port: 3000, token: undefined })
    expect(c.logLevel).toBe('debug')
    expect(c.listen).toEqual(['/ip4/127.0.0.1/tcp/4100'])
    expect(c.limits.idleTimeoutMs).toBe(222)
    const fileOnly = await loadConfig({ dir, configFile: file, env: {}, cwd: root })
    expect(fileOnly.api.port).toBe(1000)
    expect(fileOnly.logLevel).toBe('warn')
    const envOverFile = await loadConfig({ dir, configFile: file, env, cwd: root })
    expect(envOverFile.api.port).toBe(2000)
  })

  it('finds the file at --config, else QFS_CONFIG, else <dir>/config.json', async () => {
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'config.json'), JSON.stringify({ log_level: 'error' }))
    const other = await withFile('other.json', { log_level: 'trace' })
    expect((await loadConfig({ dir, env: {} })).logLevel).toBe('error')
    expect((await loadConfig({ dir, env: { QFS_CONFIG: other } })).logLevel).toBe('trace')
    expect((await loadConfig({ dir, env: { QFS_DIR: dir } })).logLevel).toBe('error')
    await rm(join(dir, 'config.json'))
  })

  it('resolves paths against the file that names them, or the working directory', async () => {
    await mkdir(join(root, 'etc'), { recursive: true })
    const file = join(root, 'etc', 'node.json')
    await writeFile(
      file,
      JSON.stringify({ snapshot: 'snap.json', trusted_authorities: ['../keys/a.pub', KEY2] }),
    )
    const c = await loadConfig({ dir, configFile: file, env: {} })
    expect(c.snapshot).toBe(join(root, 'etc', 'snap.json'))
    expect(c.trustedAuthorities).toEqual([KEY, KEY2])
    const f = await loadConfig({
      dir,
      env: {},
      cwd: root,
      flags: { snapshot: 's.json', trusted_authorities: ['keys/b.json'] },
    })
    expect(f.snapshot).toBe(join(root, 's.json'))
    expect(f.trustedAuthorities).toEqual([KEY2])
    const e = await loadConfig({ dir, env: { QFS_TRUSTED_AUTHORITIES: `keys/a.pub,${KEY2}` }, cwd: root })
    expect(e.trustedAuthorities).toEqual([KEY, KEY2])
  })

  it('ignores QFS_* variables that are no setting, and names them', async () => {
    const vars = {
      QFS_LOG_LEVLE: 'debug',
      QFS_BENCH_LOG_MS: '5',
      QFS_DIR: dir,
      QFS_LOG_LEVEL: 'warn',
      HOME: '/x',
    }
    expect((await loadConfig({ env: vars })).logLevel).toBe('warn')
    expect(unknownEnv(vars)).toEqual(['QFS_BENCH_LOG_MS', 'QFS_LOG_LEVLE'])
  })

  it('needs a token off the loopback, and then accepts the host', async () => {
    const e = await configError({ flags: { 'api.host': '0.0.0.0' } })
    expect([e.field, e.source]).toEqual(['api.token', 'flag'])
    const c = await loadConfig({
      dir,
      env: { QFS_API_TOKEN: 'a-long-enough-token' },
      flags: { 'api.host': '0.0.0.0' },
    })
    expect(c.api).toEqual({ host: '0.0.0.0', port: 0, token: 'a-long-enough-token' })
    expect([
      isLoopback('127.0.0.5'),
      isLoopback('::1'),
      isLoopback('localhost'),
      isLoopback('10.0.0.1'),
    ]).toEqual([true, true, true, false])
  })

  type Case = [string, () => Promise<Partial<ConfigSources>>, string, string]
  const file = (value: unknown) => async () => ({
    configFile: await withFile(`bad-${Math.random()}.json`, value),
  })
  const env = (vars: Record<string, string>) => async () => ({ env: vars })
  const flag = (flags: ConfigFlags) => async () => ({ flags })
  const cases: Case[] = [
    ['an unknown key', file({ colour: 'red' }), 'colour', 'file'],
    ['an unknown nested key', file({ api: { colour: 1 } }), 'api.colour', 'file'],
    ['a scalar where an object belongs', file({ api: 8080 }), 'api', 'file'],
    ['a file that is not an object', file([1]), '(root)', 'file'],
    ['a file that is not JSON', file('{listen:'), 'config', 'file'],
    // JSON.parse would keep the last silently: the node would run with whichever came second.
    ['a setting given twice in the file', file('{"api":{"port":0},"api":{"port":5}}'), 'api', 'file'],
    [
      'a nested setting given twice',
      file('{"limits":{"idle_timeout_ms":1,"idle_timeout_ms":2}}'),
      'limits.idle_timeout_ms',
      'file',
    ],
    ['listen that is not a list', file({ listen: '/ip4/127.0.0.1/tcp/1' }), 'listen', 'file'],
    ['an empty listen list', file({ listen: [] }), 'listen', 'file'],
    ['a bad multiaddr', file({ listen: ['/ip4/1.2.3/tcp/1'] }), 'listen', 'file'],
    ['a listen address without TCP', file({ listen: ['/ip4/127.0.0.1/udp/1'] }), 'listen', 'file'],
    ['a bad announce address', file({ announce: ['nowhere'] }), 'announce', 'file'],
    ['a port out of range', file({ api: { port: 65536 } }), 'api.port', 'file'],
    ['a port given as text in a file', file({ api: { port: '80' } }), 'api.port', 'file'],
    ['a fractional port', file({ api: { port: 80.5 } }), 'api.port', 'file'],
    ['a bad host', file({ api: { host: 'bad host!' } }), 'api.host', 'file'],
    ['a short token', file({ api: { token: 'short' } }), 'api.token', 'file'],
    ['a token one character short of 16', file({ api: { token: 'x'.repeat(15) } }), 'api.token', 'file'],
    ['an empty snapshot path', file({ snapshot: '' }), 'snapshot', 'file'],
    ['a trusted key that is not a string', file({ trusted_authorities: [7] }), 'trusted_authorities', 'file'],
    ['an unknown log level', file({ log_level: 'loud' }), 'log_level', 'file'],
    ['a non-boolean flag value in a file', file({ allow_no_snapshot: 'yes' }), 'allow_no_snapshot', 'file'],
    ['a zero content limit', file({ limits: { max_content_bytes: 0 } }), 'limits.max_content_bytes', 'file'],
    [
      'a timeout past 2^31-1',
      file({ limits: { request_timeout_ms: 2 ** 31 } }),
      'limits.request_timeout_ms',
      'file',
    ],
    ['an unknown limit', file({ limits: { max_peers: 3 } }), 'limits.max_peers', 'file'],
    [
      'a zero sweep interval',
      file({ limits: { staging_sweep_interval_ms: 0 } }),
      'limits.staging_sweep_interval_ms',
      'file',
    ],
    [
      'a zero inbound connection rate',
      env({ QFS_INBOUND_CONNECTIONS_PER_HOST_PER_SECOND: '0' }),
      'limits.inbound_connections_per_host_per_second',
      'env',
    ],
    [
      'a staging age below the idle timeout',
      file({ limits: { staging_max_age_ms: 1000 } }),
      'limits.staging_max_age_ms',
      'file',
    ],
    [
      'an idle timeout above the default staging age',
      env({ QFS_IDLE_TIMEOUT_MS: '1000000' }),
      'limits.idle_timeout_ms',
      'env',
    ],
    [
      'a trusted key file that does not exist',
      file({ trusted_authorities: ['nope.pub'] }),
      'trusted_authorities[0]',
      'file',
    ],
    [
      'a mistyped trusted key',
      file({ trusted_authorities: [KEY.slice(2)] }),
      'trusted_authorities[0]',
      'file',
    ],
    ['a non-numeric port', env({ QFS_API_PORT: 'abc' }), 'api.port', 'env'],
    ['a negative port', env({ QFS_API_PORT: '-1' }), 'api.port', 'env'],
    // Integers as the CLI's own arguments take them: plain decimal, no leading zeros.
    ['a port with leading zeros', env({ QFS_API_PORT: '0080' }), 'api.port', 'env'],
    ['a count in exponent form', env({ QFS_IDLE_TIMEOUT_MS: '3e4' }), 'limits.idle_timeout_ms', 'env'],
    ['a bad log level', env({ QFS_LOG_LEVEL: 'x' }), 'log_level', 'env'],
    ['a bad boolean', env({ QFS_ALLOW_NO_SNAPSHOT: 'yes' }), 'allow_no_snapshot', 'env'],
    ['a bad listen address', env({ QFS_LISTEN: 'garbage' }), 'listen', 'env'],
    ['a public API without a token', env({ QFS_API_HOST: '::' }), 'api.token', 'env'],
    ['a port out of range', flag({ 'api.port': '65536' }), 'api.port', 'flag'],
    ['a bad listen address', flag({ listen: ['nope'] }), 'listen', 'flag'],
    ['a zero timeout', flag({ 'limits.idle_timeout_ms': '0' }), 'limits.idle_timeout_ms', 'flag'],
    ['an empty log level', flag({ log_level: '' }), 'log_level', 'flag'],
    [
      'a missing trusted key file',
      flag({ trusted_authorities: ['missing.pub'] }),
      'trusted_authorities[0]',
      'flag',
    ],
  ]

  it.each(cases)('refuses %s (%s from %s)', async (_what, sources, field, source) => {
    const err = await configError(await sources())
    expect(err.code).toBe('INVALID_CONFIG')
    expect(err.field).toBe(field)
    expect(err.source).toBe(source)
    expect(err.message.startsWith(`${field} (${source}`)).toBe(true)
  })

  it('refuses a --config file that does not exist and a missing directory', async () => {
    const e1 = await configError({ configFile: join(root, 'absent.json') })
    // Named by the flag: config-file.test.ts has the variable and the message.
    expect([e1.field, e1.source]).toEqual(['config', 'flag'])
    const e2 = await configError({ dir: undefined })
    expect(e2.field).toBe('dir')
  })

  it('reaches the CLI as one line with the code and exit status 2, never a stack trace', async () => {
    let out = ''
    let err = ''
    const io = {
      stdout: (t: string) => void (out += t),
      stderr: (t: string) => void (err += t),
      isTty: false,
    }
    const status = await main(['start', '--dir', dir, '--api-port', '99999'], io)
    expect(status).toBe(2)
    expect(out).toBe('')
    expect(err).toBe('error [INVALID_CONFIG]: api.port (flag --api-port): must be an integer in 0..65535\n')
  })
})
