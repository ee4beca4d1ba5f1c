import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ConfigSources, loadConfig } from '../../src/daemon/config.js'
import { DEFAULT_SUSPECT_GRACE_MS } from '../../src/engine/context.js'
import { type ConfigRefusal, itRefuses } from './config-refusals.js'

let root: string
let dir: string

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-config-writes-'))
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

describe('public write limits in the configuration', () => {
  it('defaults to 32 concurrent writes, a 60 s minimum deadline and 64 KiB/s', async () => {
    expect((await load({})).limits).toMatchObject({
      maxConcurrentWrites: 32,
      writeMinDeadlineMs: 60_000,
      writeMinBytesPerSecond: 65_536,
    })
  })

  it('reads each key from the file, then env, then flags, the later winning', async () => {
    const file = await fileWith({
      max_concurrent_writes: 4,
      write_min_deadline_ms: 5000,
      write_min_bytes_per_second: 1024,
    })
    expect((await load({ configFile: file })).limits).toMatchObject({
      maxConcurrentWrites: 4,
      writeMinDeadlineMs: 5000,
      writeMinBytesPerSecond: 1024,
    })
    const fromEnv = await load({
      configFile: file,
      env: { QFS_MAX_CONCURRENT_WRITES: '5', QFS_WRITE_MIN_DEADLINE_MS: '6000' },
    })
    expect(fromEnv.limits).toMatchObject({
      maxConcurrentWrites: 5,
      writeMinDeadlineMs: 6000,
      writeMinBytesPerSecond: 1024,
    })
    const fromFlags = await load({
      configFile: file,
      env: { QFS_MAX_CONCURRENT_WRITES: '5', QFS_WRITE_MIN_BYTES_PER_SECOND: '2048' },
      flags: { 'limits.max_concurrent_writes': '1', 'limits.write_min_bytes_per_second': '4096' },
    })
    expect(fromFlags.limits).toMatchObject({
      maxConcurrentWrites: 1,
      writeMinDeadlineMs: 5000,
      writeMinBytesPerSecond: 4096,
    })
  })

  it('waits half a second for a suspect peer by default; 0 stops at once; file, env and flag in order', async () => {
    expect((await load({})).limits.suspectGraceMs).toBe(DEFAULT_SUSPECT_GRACE_MS)
    const file = await fileWith({ suspect_grace_ms: 0 })
    expect((await load({ configFile: file })).limits.suspectGraceMs).toBe(0)
    expect(
      (await load({ configFile: file, env: { QFS_SUSPECT_GRACE_MS: '250' } })).limits.suspectGraceMs,
    ).toBe(250)
    const flagged = await load({
      configFile: file,
      env: { QFS_SUSPECT_GRACE_MS: '250' },
      flags: { 'limits.suspect_grace_ms': '2000' },
    })
    expect(flagged.limits.suspectGraceMs).toBe(2000)
  })

  it('probes peers every 5 s by default; 0 turns probing off', async () => {
    expect((await load({})).limits.probeIntervalMs).toBe(5_000)
    expect((await load({ env: { QFS_PROBE_INTERVAL_MS: '0' } })).limits.probeIntervalMs).toBe(0)
    expect((await load({ flags: { 'limits.probe_interval_ms': '250' } })).limits.probeIntervalMs).toBe(250)
  })

  const bad: ConfigRefusal[] = [
    [
      'a negative probe interval',
      async () => ({ flags: { 'limits.probe_interval_ms': '-5' } }),
      'limits.probe_interval_ms',
      'flag',
    ],
    [
      'a probe interval as text in a file',
      async () => ({ configFile: await fileWith({ probe_interval_ms: '5000' }) }),
      'limits.probe_interval_ms',
      'file',
    ],
    [
      'a negative suspect grace',
      async () => ({ env: { QFS_SUSPECT_GRACE_MS: '-1' } }),
      'limits.suspect_grace_ms',
      'env',
    ],
    [
      'a fractional suspect grace',
      async () => ({ configFile: await fileWith({ suspect_grace_ms: 0.5 }) }),
      'limits.suspect_grace_ms',
      'file',
    ],
    [
      'a suspect grace past 2^31-1 ms',
      async () => ({ flags: { 'limits.suspect_grace_ms': String(2 ** 31) } }),
      'limits.suspect_grace_ms',
      'flag',
    ],
    [
      'zero concurrent writes',
      async () => ({ configFile: await fileWith({ max_concurrent_writes: 0 }) }),
      'limits.max_concurrent_writes',
      'file',
    ],
    [
      'a fractional cap',
      async () => ({ configFile: await fileWith({ max_concurrent_writes: 1.5 }) }),
      'limits.max_concurrent_writes',
      'file',
    ],
    [
      'a cap as text in a file',
      async () => ({ configFile: await fileWith({ max_concurrent_writes: '8' }) }),
      'limits.max_concurrent_writes',
      'file',
    ],
    [
      'a cap above 1_000_000',
      async () => ({ env: { QFS_MAX_CONCURRENT_WRITES: '1000001' } }),
      'limits.max_concurrent_writes',
      'env',
    ],
    [
      'a deadline past 2^31-1 ms',
      async () => ({ configFile: await fileWith({ write_min_deadline_ms: 2 ** 31 }) }),
      'limits.write_min_deadline_ms',
      'file',
    ],
    [
      'a zero deadline',
      async () => ({ flags: { 'limits.write_min_deadline_ms': '0' } }),
      'limits.write_min_deadline_ms',
      'flag',
    ],
    [
      'a negative rate',
      async () => ({ env: { QFS_WRITE_MIN_BYTES_PER_SECOND: '-1' } }),
      'limits.write_min_bytes_per_second',
      'env',
    ],
    [
      'a non-numeric rate',
      async () => ({ flags: { 'limits.write_min_bytes_per_second': '64k' } }),
      'limits.write_min_bytes_per_second',
      'flag',
    ],
  ]

  itRefuses(bad, load)
})
