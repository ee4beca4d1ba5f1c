import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/daemon/config.js'
import { startNode } from '../../src/daemon/daemon.js'
import { initDataDir } from '../../src/daemon/data-dir.js'
import { createLogger } from '../../src/daemon/logger.js'
import { runCli } from '../cli/run.js'

describe('daemon: a damaged database', () => {
  let root: string | undefined
  afterAll(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  })

  it('refuses to start with DB_UNREADABLE naming the database and what LevelDB found', async () => {
    root = await mkdtemp(join(tmpdir(), 'qfs-db-damaged-'))
    const { dir } = await initDataDir(join(root, 'n'))
    // LevelDB finds its MANIFEST through CURRENT: a garbage CURRENT points nowhere.
    await mkdir(join(dir, 'db'), { recursive: true })
    await writeFile(join(dir, 'db', 'CURRENT'), 'MANIFEST-999999\n')
    const config = await loadConfig({ dir, env: {}, flags: { allow_no_snapshot: true } })
    const err = await startNode(config, { logger: createLogger('silent') }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: 'DB_UNREADABLE' })
    const message = (err as Error).message
    expect(message).toContain(join(dir, 'db'))
    expect(message).toMatch(/LEVEL_\w+: .*MANIFEST-999999/)
  })

  it('gives the offline checks (log verify, replay, scrub) the same DB_UNREADABLE, exit 3', async () => {
    root ??= await mkdtemp(join(tmpdir(), 'qfs-db-damaged-'))
    const { dir } = await initDataDir(join(root, 'offline'))
    await mkdir(join(dir, 'db'), { recursive: true })
    await writeFile(join(dir, 'db', 'CURRENT'), 'MANIFEST-999999\n')
    for (const args of [['log', 'verify'], ['replay'], ['scrub']]) {
      const r = await runCli([...args, '--dir', dir])
      expect(r.stderr, args.join(' ')).toMatch(
        new RegExp(
          `^error \\[DB_UNREADABLE\\]: the database in ${join(dir, 'db')} cannot be read \\(LEVEL_\\w+: .*MANIFEST-999999`,
        ),
      )
      expect(r.status).toBe(3)
    }
  })
})
