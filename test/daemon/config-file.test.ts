/**
 * The config file: one spelling per setting (nested keys; a dotted key at any level is refused, so
 * a file cannot give a setting twice with the later key silently winning), and where it is named
 * (`--config`, else a non-empty `$QFS_CONFIG`, else `D/config.json`), which every error about
 * reading it names.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { loadConfig } from '../../src/daemon/config.js'
import { InvalidConfigError } from '../../src/daemon/errors.js'

let root = ''
let dir = ''
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-config-file-'))
  dir = join(root, 'node')
  await mkdir(dir)
})
afterAll(async () => {
  if (root !== '') await rm(root, { recursive: true, force: true })
})

async function fileWith(name: string, value: unknown): Promise<string> {
  const path = join(root, name)
  await writeFile(path, JSON.stringify(value))
  return path
}

async function refusal(load: Promise<unknown>): Promise<InvalidConfigError> {
  const err = await load.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(InvalidConfigError)
  return err as InvalidConfigError
}

describe('config file keys', () => {
  it.each([
    ['dotted beside nested', { limits: { idle_timeout_ms: 40_000 }, 'limits.idle_timeout_ms': 20_000 }],
    ['nested beside dotted', { 'limits.idle_timeout_ms': 20_000, limits: { idle_timeout_ms: 40_000 } }],
    ['dotted alone', { 'limits.idle_timeout_ms': 20_000 }],
  ])('refuses a dotted key (%s), naming the key and the file', async (name, value) => {
    const path = await fileWith(`${name.replace(/ /g, '-')}.json`, value)
    const err = await refusal(loadConfig({ dir, configFile: path, env: {} }))
    expect(err).toMatchObject({ code: 'INVALID_CONFIG', field: 'limits.idle_timeout_ms', source: 'file' })
    expect(err.message).toBe(
      `limits.idle_timeout_ms (file ${path}): a file key holds no dot: nest it, {"limits": {"idle_timeout_ms": ...}}`,
    )
  })

  it('refuses a dotted key inside a section and one that is no setting', async () => {
    const inner = await fileWith('inner.json', { api: { 'host.name': 'x' } })
    expect(await refusal(loadConfig({ dir, configFile: inner, env: {} }))).toMatchObject({
      field: 'api.host.name',
      source: 'file',
    })
    const unknown = await fileWith('unknown.json', { 'colour.red': 1 })
    expect(await refusal(loadConfig({ dir, configFile: unknown, env: {} }))).toMatchObject({
      field: 'colour.red',
      source: 'file',
    })
  })

  it('takes the nested form', async () => {
    const path = await fileWith('nested.json', { limits: { idle_timeout_ms: 40_000 }, api: { port: 1234 } })
    const config = await loadConfig({ dir, configFile: path, env: {} })
    expect([config.limits.idleTimeoutMs, config.api.port]).toEqual([40_000, 1234])
  })
})

describe('config file location', () => {
  it('takes an empty QFS_CONFIG as unset: D/config.json, else the defaults', async () => {
    const defaults = await loadConfig({ dir, env: { QFS_CONFIG: '' }, cwd: root })
    expect(defaults.logLevel).toBe('info')
    await writeFile(join(dir, 'config.json'), JSON.stringify({ log_level: 'warn' }))
    try {
      expect((await loadConfig({ dir, env: { QFS_CONFIG: '' }, cwd: root })).logLevel).toBe('warn')
    } finally {
      await rm(join(dir, 'config.json'))
    }
  })

  it('refuses an empty --config, naming the flag, rather than reading the working directory', async () => {
    const err = await refusal(loadConfig({ dir, configFile: '', env: {}, cwd: root }))
    expect(err).toMatchObject({ field: 'config', source: 'flag' })
    expect(err.message).toBe('config (flag --config): must be a file path')
  })

  it('names QFS_CONFIG when the file it names cannot be read', async () => {
    const missing = join(root, 'missing.json')
    const err = await refusal(loadConfig({ dir, env: { QFS_CONFIG: missing } }))
    expect(err).toMatchObject({ field: 'config', source: 'env' })
    expect(err.message).toMatch(
      new RegExp(
        `^config \\(env QFS_CONFIG, file ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\): cannot read: ENOENT`,
      ),
    )
    // A directory, named relative to the working directory.
    const dirErr = await refusal(loadConfig({ dir, env: { QFS_CONFIG: 'node' }, cwd: root }))
    expect(dirErr.message).toMatch(/^config \(env QFS_CONFIG, file .*node\): cannot read: EISDIR/)
  })

  it('names --config when the file it names cannot be read, and QFS_CONFIG is then not looked at', async () => {
    const missing = join(root, 'absent.json')
    const err = await refusal(loadConfig({ dir, configFile: missing, env: { QFS_CONFIG: '' } }))
    expect(err).toMatchObject({ field: 'config', source: 'flag' })
    expect(err.message.startsWith(`config (flag --config, file ${missing}): cannot read: ENOENT`)).toBe(true)
  })

  it('reaches `qfs-node start` as one line naming the variable, exit 2', async () => {
    let out = ''
    const io = { stdout: () => {}, stderr: (t: string) => void (out += t), isTty: false }
    const saved = process.env.QFS_CONFIG
    process.env.QFS_CONFIG = join(root, 'nowhere.json')
    try {
      expect(await main(['start', '--dir', dir], io)).toBe(2)
    } finally {
      if (saved === undefined) delete process.env.QFS_CONFIG
      else process.env.QFS_CONFIG = saved
    }
    expect(out).toMatch(
      /^error \[INVALID_CONFIG\]: config \(env QFS_CONFIG, file .*nowhere\.json\): cannot read: ENOENT.*\n$/,
    )
  })
})
