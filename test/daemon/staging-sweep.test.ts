import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { loadConfig } from '../../src/daemon/config.js'
import { type RunningNode, startNode } from '../../src/daemon/daemon.js'
import { initDataDir } from '../../src/daemon/data-dir.js'
import { createLogger } from '../../src/daemon/logger.js'
import { startStagingSweeper } from '../../src/daemon/staging-sweeper.js'

const WAIT = { timeout: 10_000, interval: 10 }

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

describe('startStagingSweeper', () => {
  it('sweeps with the configured age, never two sweeps at once, and logs a failure without throwing', async () => {
    const lines: string[] = []
    const log = createLogger('info', (line) => lines.push(line))
    const ages: number[] = []
    let active = 0
    let most = 0
    let gate = deferred()
    let fail = false
    const store = {
      sweepStaging: async (options?: { olderThanMs?: number }) => {
        ages.push(options?.olderThanMs ?? -1)
        active++
        most = Math.max(most, active)
        await gate.promise
        active--
        if (fail) throw new Error('store is closed')
        return { removed: 2 }
      },
    }
    const sweeper = startStagingSweeper({ store, intervalMs: 5, olderThanMs: 1234, log })
    // The timer fires while the first sweep is held open: no second one starts meanwhile.
    await vi.waitFor(() => expect(ages.length).toBe(1), WAIT)
    await new Promise((r) => setTimeout(r, 50))
    expect(ages).toEqual([1234])
    gate.resolve()
    await vi.waitFor(() => expect(ages.length).toBeGreaterThan(2), WAIT)
    expect(most).toBe(1)
    expect(lines.some((l) => JSON.parse(l).removed === 2)).toBe(true)
    gate = deferred()
    fail = true
    const failed = sweeper.sweepNow()
    gate.resolve()
    expect(await failed).toBe(0)
    expect(lines.some((l) => JSON.parse(l).msg === 'staging sweep failed')).toBe(true)
    await sweeper.stop()
    const calls = ages.length
    await new Promise((r) => setTimeout(r, 50))
    expect(ages.length).toBe(calls)
  })
})

describe('daemon: staged shards of abandoned writes are swept while it runs', () => {
  let root: string | undefined
  let node: RunningNode | undefined
  afterAll(async () => {
    await node?.stop().catch(() => {})
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  })

  it('removes an uncommitted staged shard after staging_max_age_ms, and stops sweeping on stop()', async () => {
    root = await mkdtemp(join(tmpdir(), 'qfs-sweep-'))
    const { dir } = await initDataDir(join(root, 'n'))
    const config = await loadConfig({
      dir,
      env: {},
      flags: {
        allow_no_snapshot: true,
        'limits.idle_timeout_ms': '100',
        'limits.staging_max_age_ms': '100',
        'limits.staging_sweep_interval_ms': '25',
      },
    })
    expect(config.limits).toMatchObject({ stagingSweepIntervalMs: 25, stagingMaxAgeMs: 100 })
    node = await startNode(config, { logger: createLogger('silent') })
    const oid = objectId('sweep', 'abandoned')
    const sink = await node.local.service.openShard({
      object_id: oid,
      version: 1,
      shard_index: 0,
      shard_id: shardId(oid, 1, 0),
      length: 5,
      block_size_bytes: DEFAULT_PARAMS.blockSizeBytes,
    })
    await sink.write(Uint8Array.of(1, 2, 3, 4, 5))
    await sink.finish()
    expect((await node.local.store.stats()).staged).toBe(1)
    // Nobody commits or aborts it: the sweep removes it once it is old enough.
    await vi.waitFor(async () => expect((await node!.local.store.stats()).staged).toBe(0), WAIT)

    const store = node.local.store
    const sweep = store.sweepStaging.bind(store)
    let calls = 0
    store.sweepStaging = (options) => {
      calls++
      return sweep(options)
    }
    await vi.waitFor(() => expect(calls).toBeGreaterThan(0), WAIT)
    await node.stop()
    const after = calls
    await new Promise((r) => setTimeout(r, 150))
    expect(calls).toBe(after)
  })
})
