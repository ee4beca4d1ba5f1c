import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ConfigSources, DEFAULT_STORAGE_RESERVE_BYTES, loadConfig } from '../../src/daemon/config.js'
import { type ConfigRefusal, itRefuses } from './config-refusals.js'

let root: string

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-config-storage-'))
})
afterAll(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true })
})

let files = 0
async function fileWith(storage: Record<string, unknown>): Promise<string> {
  const path = join(root, `storage-${files++}.json`)
  await writeFile(path, JSON.stringify({ storage }))
  return path
}

function load(sources: Partial<ConfigSources>) {
  return loadConfig({ dir: join(root, 'node'), env: {}, cwd: root, ...sources })
}

describe('storage space in the configuration', () => {
  it('keeps 256 MiB in reserve and sets no capacity by default', async () => {
    expect(DEFAULT_STORAGE_RESERVE_BYTES).toBe(256 * 1024 * 1024)
    expect((await load({})).storage).toEqual({
      reserveBytes: DEFAULT_STORAGE_RESERVE_BYTES,
      capacityBytes: null,
      sync: true,
    })
  })

  it('reads both keys from the file, then env, then flags, the later winning', async () => {
    const file = await fileWith({ reserve_bytes: 0, capacity_bytes: 1_000_000 })
    expect((await load({ configFile: file })).storage).toEqual({
      reserveBytes: 0,
      capacityBytes: 1_000_000,
      sync: true,
    })
    const fromEnv = await load({ configFile: file, env: { QFS_STORAGE_CAPACITY_BYTES: '2000000' } })
    expect(fromEnv.storage).toEqual({ reserveBytes: 0, capacityBytes: 2_000_000, sync: true })
    const fromFlags = await load({
      configFile: file,
      env: { QFS_STORAGE_CAPACITY_BYTES: '2000000' },
      flags: { 'storage.capacity_bytes': '3000000', 'storage.reserve_bytes': '4096' },
    })
    expect(fromFlags.storage).toEqual({ reserveBytes: 4096, capacityBytes: 3_000_000, sync: true })
  })

  it('syncs acknowledged state unless told not to, by file, env or flag, the later winning', async () => {
    const off = await fileWith({ sync: false })
    expect((await load({ configFile: off })).storage.sync).toBe(false)
    expect((await load({ configFile: off, env: { QFS_STORAGE_SYNC: 'true' } })).storage.sync).toBe(true)
    expect((await load({ env: { QFS_STORAGE_SYNC: '0' } })).storage.sync).toBe(false)
    const flagged = await load({ env: { QFS_STORAGE_SYNC: '0' }, flags: { 'storage.sync': '1' } })
    expect(flagged.storage.sync).toBe(true)
  })

  const bad: ConfigRefusal[] = [
    [
      'a zero capacity',
      async () => ({ configFile: await fileWith({ capacity_bytes: 0 }) }),
      'storage.capacity_bytes',
      'file',
    ],
    [
      'a negative reserve',
      async () => ({ env: { QFS_STORAGE_RESERVE_BYTES: '-1' } }),
      'storage.reserve_bytes',
      'env',
    ],
    [
      'a fractional reserve',
      async () => ({ configFile: await fileWith({ reserve_bytes: 0.5 }) }),
      'storage.reserve_bytes',
      'file',
    ],
    [
      'a capacity with a unit',
      async () => ({ flags: { 'storage.capacity_bytes': '10G' } }),
      'storage.capacity_bytes',
      'flag',
    ],
    [
      'a capacity past 2^53',
      async () => ({ env: { QFS_STORAGE_CAPACITY_BYTES: '9007199254740993' } }),
      'storage.capacity_bytes',
      'env',
    ],
    [
      'a sync that is a string in the file',
      async () => ({ configFile: await fileWith({ sync: 'false' }) }),
      'storage.sync',
      'file',
    ],
    [
      'a sync that is neither true nor false',
      async () => ({ env: { QFS_STORAGE_SYNC: 'no' } }),
      'storage.sync',
      'env',
    ],
  ]

  itRefuses(bad, load)
})
