import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
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
