import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { loadConfig } from '../../src/daemon/config.js'
import { type RunningNode, startNode } from '../../src/daemon/daemon.js'
import { initDataDir } from '../../src/daemon/data-dir.js'
import { createLogger } from '../../src/daemon/logger.js'

/**
 * A daemon's stop waits for a staging sweep in flight before it closes the store: the sweep reads
 * and removes staged shards, and one still running when the store closes would act on a closed
 * database. The sweep is held on a gate the test opens only after libp2p has stopped (the step
 * before the sweeper's), one turn later, or when the store is closed, whichever comes first:
 * events, not a timer.
 */
describe('daemon stop and a staging sweep in flight', () => {
  let root: string | undefined
  let node: RunningNode | undefined
  afterAll(async () => {
    await node?.stop().catch(() => {})
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  })

  it('closes the store only once the sweep in flight has finished, and starts no sweep after', async () => {
    root = await mkdtemp(join(tmpdir(), 'qfs-stop-sweep-'))
    const { dir } = await initDataDir(join(root, 'n'))
    const config = await loadConfig({
      dir,
      env: {},
      flags: { allow_no_snapshot: true, 'limits.staging_sweep_interval_ms': '25' },
    })
    node = await startNode(config, { logger: createLogger('silent') })
    const running = node

    let open!: () => void
    const gate = new Promise<void>((resolve) => {
      open = resolve
    })
    let sweeping = false
    let sweeps = 0
    const store = running.local.store
    const stale = store.staleStaged.bind(store)
    store.staleStaged = async (age) => {
      sweeps++
      sweeping = true
      await gate
      try {
        return await stale(age)
      } finally {
        sweeping = false
      }
    }
    let sweepingAtClose: boolean | undefined
    let sweepsAtClose = 0
    const close = running.local.close.bind(running.local)
    running.local.close = async () => {
      sweepingAtClose = sweeping
      sweepsAtClose = sweeps
      open()
      return close()
    }
    const stopLibp2p = running.libp2p.stop.bind(running.libp2p)
    running.libp2p.stop = async () => {
      await stopLibp2p()
      void nextTurn().then(open)
    }

    await vi.waitFor(() => expect(sweeping).toBe(true), { timeout: 10_000, interval: 5 })
    await running.stop()
    expect(sweepingAtClose).toBe(false)
    await new Promise((r) => setTimeout(r, 100))
    expect(sweeps).toBe(sweepsAtClose)
  })
})
