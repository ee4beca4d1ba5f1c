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
import { startStagingSweeper, UNDECIDED_STAGING_MAX_AGE_MS } from '../../src/daemon/staging-sweeper.js'
import type { RollForwardResult } from '../../src/engine/roll-forward.js'
import type { StagedShardRef } from '../../src/store/index.js'

const WAIT = { timeout: 10_000, interval: 10 }

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/** A sweeper over a store with nothing stale, whose timer does not fire within a test: sweeps come from sweepNow(). */
function manualSweeper(sweepStaging: () => Promise<{ removed: number }>) {
  return startStagingSweeper({
    store: { staleStaged: async () => [], sweepStaging },
    intervalMs: 60_000,
    olderThanMs: 1,
    log: createLogger('silent'),
  })
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
      staleStaged: async () => [],
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

describe('startStagingSweeper: stop', () => {
  it('waits for the sweep in progress before it resolves (the store closes after it)', async () => {
    const gate = deferred()
    let started = false
    let finished = false
    const sweeper = manualSweeper(async () => {
      started = true
      await gate.promise
      finished = true
      return { removed: 0 }
    })
    const sweep = sweeper.sweepNow()
    await vi.waitFor(() => expect(started).toBe(true), WAIT)
    let stopped = false
    const stop = sweeper.stop().then(() => {
      stopped = true
    })
    await new Promise((r) => setTimeout(r, 20))
    expect(stopped).toBe(false)
    gate.resolve()
    await stop
    expect(finished).toBe(true)
    await sweep
  })

  it('starts no sweep once stop() was called, even one asked for just before', async () => {
    let sweeps = 0
    const sweeper = manualSweeper(async () => {
      sweeps++
      return { removed: 0 }
    })
    const asked = sweeper.sweepNow()
    await sweeper.stop()
    expect(await asked).toBe(0)
    expect(sweeps).toBe(0)
  })
})

describe('startStagingSweeper with roll-forward', () => {
  const ref = (id: string, createdMs: number): StagedShardRef => ({
    stagingId: id,
    objectId: 'ab'.repeat(32),
    version: 1,
    shardId: 'cd'.repeat(32),
    length: 5,
    merkleRoot: 'ef'.repeat(32),
    createdMs,
  })
  const DAY = UNDECIDED_STAGING_MAX_AGE_MS

  async function sweepWith(rollForward: (refs: readonly StagedShardRef[]) => Promise<RollForwardResult>) {
    const lines: string[] = []
    const removed: Array<ReadonlySet<string> | undefined> = []
    const asked: string[][] = []
    const stale = [
      ref('fresh-undecided', 10 * DAY - 1000),
      ref('old-undecided', 10 * DAY - DAY),
      ref('needed', 0),
      ref('unneeded', 0),
    ]
    const sweeper = startStagingSweeper({
      store: {
        staleStaged: async () => stale,
        sweepStaging: async (options) => {
          removed.push(options?.removeStaged)
          return { removed: 0 }
        },
      },
      rollForward: (refs) => {
        asked.push(refs.map((r) => r.stagingId))
        return rollForward(refs)
      },
      intervalMs: 60_000,
      olderThanMs: 1000,
      log: createLogger('info', (line) => lines.push(line)),
      now: () => 10 * DAY,
    })
    await sweeper.sweepNow()
    await sweeper.stop()
    return { lines, removed: [...(removed[0] ?? [])].sort(), asked: asked[0] }
  }

  it('removes only what the roll-forward judged unneeded, and undecided shards a day old', async () => {
    const { lines, removed, asked } = await sweepWith(async () => ({
      committed: ['needed'],
      unneeded: ['unneeded'],
      undecided: ['fresh-undecided', 'old-undecided'],
    }))
    expect(asked).toEqual(['fresh-undecided', 'old-undecided', 'needed', 'unneeded'])
    expect(removed).toEqual(['old-undecided', 'unneeded'])
    const warned = lines.map((l) => JSON.parse(l)).find((l) => l.committed === 1)
    expect(warned?.versions).toEqual([`${'ab'.repeat(32)} v1`])
  })

  it('treats a failed roll-forward as undecided for all, and logs it', async () => {
    const { lines, removed } = await sweepWith(async () => {
      throw new Error('no snapshot')
    })
    // The fixture's other shards are ten days old: undecided for that long, they go too.
    expect(removed).toEqual(['needed', 'old-undecided', 'unneeded'])
    expect(lines.some((l) => JSON.parse(l).msg === 'staging roll-forward failed')).toBe(true)
  })
})

describe('daemon: the staging sweep runs while it does', () => {
  let root: string | undefined
  let node: RunningNode | undefined
  afterAll(async () => {
    await node?.stop().catch(() => {})
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  })

  it('keeps a stale staged shard whose fate it cannot learn, sweeps on the interval, and stops on stop()', async () => {
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
    // An idle stream is aborted at the same age; this one is finished, so only its marker waits.
    const idle = await node.local.service.openShard({
      object_id: oid,
      version: 1,
      shard_index: 1,
      shard_id: shardId(oid, 1, 1),
      length: 5,
      block_size_bytes: DEFAULT_PARAMS.blockSizeBytes,
    })
    await idle.write(Uint8Array.of(1))
    expect((await node.local.store.stats()).staged).toBe(2)

    const store = node.local.store
    const stale = store.staleStaged.bind(store)
    let looked = 0
    store.staleStaged = (age) => {
      looked++
      return stale(age)
    }
    // Without a snapshot no catalogue home can be asked: the finished shard is kept for a later
    // sweep (a decided version may need it), the idle stream is aborted.
    await vi.waitFor(async () => expect((await node!.local.store.stats()).staged).toBe(1), WAIT)
    await vi.waitFor(() => expect(looked).toBeGreaterThan(2), WAIT)
    expect((await store.staleStaged(0)).map((r) => r.shardId)).toEqual([shardId(oid, 1, 0)])
    await node.stop()
    const after = looked
    await new Promise((r) => setTimeout(r, 150))
    expect(looked).toBe(after)
  })
})
