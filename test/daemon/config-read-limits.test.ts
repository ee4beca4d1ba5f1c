import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ConfigSources, loadConfig } from '../../src/daemon/config.js'
import { type ConfigRefusal, itRefuses } from './config-refusals.js'

let root: string
let dir: string

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-config-reads-'))
  dir = join(root, 'node')
})
afterAll(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true })
})

async function fileWith(limits: Record<string, unknown>): Promise<string> {
  const path = join(root, `limits-${Object.keys(limits).join('-')}-${Object.values(limits).join('-')}.json`)
  await writeFile(path, JSON.stringify({ limits }))
  return path
}

async function load(sources: Partial<ConfigSources>) {
  return loadConfig({ dir, env: {}, cwd: root, ...sources })
}

describe('public read limits in the configuration', () => {
  it('defaults to 32 concurrent reads, a 60 s grace and 64 KiB/s', async () => {
    expect((await load({})).limits).toMatchObject({
      maxConcurrentReads: 32,
      readMinDeadlineMs: 60_000,
      readMinBytesPerSecond: 65_536,
    })
  })

  it('reads each key from the file, then env, then flags, the later winning', async () => {
    const file = await fileWith({
      max_concurrent_reads: 4,
      read_min_deadline_ms: 5000,
      read_min_bytes_per_second: 1024,
    })
    expect((await load({ configFile: file })).limits).toMatchObject({
      maxConcurrentReads: 4,
      readMinDeadlineMs: 5000,
      readMinBytesPerSecond: 1024,
    })
    const fromEnv = await load({
      configFile: file,
      env: { QFS_MAX_CONCURRENT_READS: '5', QFS_READ_MIN_DEADLINE_MS: '6000' },
    })
    expect(fromEnv.limits).toMatchObject({
      maxConcurrentReads: 5,
      readMinDeadlineMs: 6000,
      readMinBytesPerSecond: 1024,
    })
    const fromFlags = await load({
      configFile: file,
      env: { QFS_MAX_CONCURRENT_READS: '5', QFS_READ_MIN_BYTES_PER_SECOND: '2048' },
      flags: {
        'limits.max_concurrent_reads': '1',
        'limits.read_min_deadline_ms': '7000',
        'limits.read_min_bytes_per_second': '4096',
      },
    })
    expect(fromFlags.limits).toMatchObject({
      maxConcurrentReads: 1,
      readMinDeadlineMs: 7000,
      readMinBytesPerSecond: 4096,
    })
  })

  it('keeps the read and write rules apart', async () => {
    const limits = (
      await load({
        env: { QFS_READ_MIN_DEADLINE_MS: '1000', QFS_WRITE_MIN_BYTES_PER_SECOND: '2048' },
      })
    ).limits
    expect(limits).toMatchObject({
      readMinDeadlineMs: 1000,
      readMinBytesPerSecond: 65_536,
      writeMinDeadlineMs: 60_000,
      writeMinBytesPerSecond: 2048,
    })
  })

  const bad: ConfigRefusal[] = [
    [
      'zero concurrent reads',
      async () => ({ configFile: await fileWith({ max_concurrent_reads: 0 }) }),
      'limits.max_concurrent_reads',
      'file',
    ],
    [
      'a read cap above 1_000_000',
      async () => ({ env: { QFS_MAX_CONCURRENT_READS: '1000001' } }),
      'limits.max_concurrent_reads',
      'env',
    ],
    [
      'a read deadline past 2^31-1 ms',
      async () => ({ configFile: await fileWith({ read_min_deadline_ms: 2 ** 31 }) }),
      'limits.read_min_deadline_ms',
      'file',
    ],
    [
      'a zero read deadline',
      async () => ({ flags: { 'limits.read_min_deadline_ms': '0' } }),
      'limits.read_min_deadline_ms',
      'flag',
    ],
    [
      'a fractional read deadline',
      async () => ({ configFile: await fileWith({ read_min_deadline_ms: 1.5 }) }),
      'limits.read_min_deadline_ms',
      'file',
    ],
    [
      'a read deadline as text in a file',
      async () => ({ configFile: await fileWith({ read_min_deadline_ms: '60000' }) }),
      'limits.read_min_deadline_ms',
      'file',
    ],
    [
      'a negative read rate',
      async () => ({ env: { QFS_READ_MIN_BYTES_PER_SECOND: '-1' } }),
      'limits.read_min_bytes_per_second',
      'env',
    ],
    [
      'a zero read rate',
      async () => ({ configFile: await fileWith({ read_min_bytes_per_second: 0 }) }),
      'limits.read_min_bytes_per_second',
      'file',
    ],
    [
      'a non-numeric read rate',
      async () => ({ flags: { 'limits.read_min_bytes_per_second': '64k' } }),
      'limits.read_min_bytes_per_second',
      'flag',
    ],
  ]

  itRefuses(bad, load)
})
