import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Devnet } from '../../src/daemon/devnet.js'

/**
 * A devnet stopped while it is still launching its daemons (Ctrl-C right after `devnet` or `npm run
 * demo` began) must leave none running: `stop()` takes its list of children at once, so a launch that
 * was still opening its log file has to see the stop before it spawns.
 */
describe('a devnet stopped while it launches', () => {
  const dirs: string[] = []
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it('spawns no daemon after stop() began, and launchAll fails', async () => {
    if (!existsSync(new URL('../../dist/cli/main.js', import.meta.url))) {
      throw new Error('the daemons run the compiled CLI: run `npm run build` first (npm test does)')
    }
    const dir = await mkdtemp(join(tmpdir(), 'qfs-devnet-race-'))
    dirs.push(dir)
    const devnet = await Devnet.prepare({ dir: join(dir, 'net'), nodes: 3, logLevel: 'warn' })
    const launched = devnet.launchAll()
    launched.catch(() => {})
    await devnet.stop()
    await expect(launched).rejects.toMatchObject({ code: 'DEVNET_NODE_FAILED' })
    try {
      expect([1, 2, 3].filter((i) => devnet.running(i))).toEqual([])
    } finally {
      devnet.killAllNow()
    }
  }, 30_000)
})

/** Pids of `start` processes whose command line names a directory under `dir`. */
async function startedUnder(dir: string): Promise<number[]> {
  const pids: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const args = await readFile(`/proc/${entry}/cmdline`, 'utf8').then(
      (c) => c.split('\0'),
      () => [] as string[],
    )
    if (args.includes('start') && args.some((a) => a.startsWith(dir))) pids.push(Number(entry))
  }
  return pids
}

describe('a devnet stopped at any point of its launch', () => {
  it('leaves no daemon process behind once stop() resolves', async () => {
    const root = await mkdtemp(join(tmpdir(), 'qfs-devnet-race-any-'))
    try {
      // stop() after 0..39 event-loop turns, then after 0..19 ms (the old code failed at 0-2 ms): some land while a launch closes
      // its log file, after its spawn (a daemon not yet listed then was never stopped).
      for (let turns = 0; turns < 60; turns++) {
        const dir = join(root, `net-${turns}`)
        const devnet = await Devnet.prepare({ dir, nodes: 3, logLevel: 'warn' })
        const launched = devnet.launchAll()
        launched.catch(() => {})
        if (turns < 40) for (let t = 0; t < turns; t++) await new Promise((r) => setImmediate(r))
        else await new Promise((r) => setTimeout(r, turns - 40))
        await devnet.stop()
        const left = await startedUnder(dir)
        for (const pid of left) process.kill(pid, 'SIGKILL')
        expect(left, `stop() after ${turns} turns`).toEqual([])
      }
    } finally {
      await rm(root, { recursive: true, force: true })
    }
  }, 120_000)
})
