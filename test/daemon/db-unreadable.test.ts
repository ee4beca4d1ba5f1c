import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/daemon/config.js'
import { startNode } from '../../src/daemon/daemon.js'
import { initDataDir } from '../../src/daemon/data-dir.js'
import { createLogger } from '../../src/daemon/logger.js'
import { openNodeDb } from '../../src/store/db.js'
import { runCli } from '../cli/run.js'

/** One temporary root for every case of this file; each case makes its own node directory in it. */
let root: string
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-db-unreadable-'))
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

const BIN = fileURLToPath(new URL('../../bin/qfs-node.js', import.meta.url))

describe('daemon: a damaged database', () => {
  it('refuses to start with DB_UNREADABLE naming the database and what LevelDB found', async () => {
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

describe('daemon: a database that lost its CURRENT file', () => {
  it('is refused with DB_UNREADABLE and the way back, by start and the offline checks, and keeps its files', async () => {
    const { dir } = await initDataDir(join(root, 'headless'))
    const config = await loadConfig({ dir, env: {}, flags: { allow_no_snapshot: true } })
    const node = await startNode(config, { logger: createLogger('silent') })
    await node.stop()
    const db = join(dir, 'db')
    await rm(join(db, 'CURRENT'))
    const before = (await readdir(db)).sort()
    const manifest = before.find((n) => n.startsWith('MANIFEST-'))!
    // Opened as it was, LevelDB made a new database here and its first compaction deleted the old tables.
    const err = await startNode(config, { logger: createLogger('silent') }).then(
      async (n) => {
        await n.stop()
        return undefined
      },
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: 'DB_UNREADABLE' })
    expect((err as Error).message).toContain(`no CURRENT file`)
    expect((err as Error).message).toContain(`echo ${manifest} > ${db}/CURRENT`)
    for (const args of [['log', 'verify'], ['replay'], ['scrub']]) {
      const r = await runCli([...args, '--dir', dir])
      expect(r.stderr, args.join(' ')).toMatch(/^error \[DB_UNREADABLE\]: .*no CURRENT file/)
      expect(r.status).toBe(3)
    }
    expect((await readdir(db)).sort()).toEqual(before)
    // The advice works: with CURRENT written back the node starts on its own database.
    await writeFile(join(db, 'CURRENT'), `${manifest}\n`)
    const again = await startNode(config, { logger: createLogger('silent') })
    await again.stop()
  })
})

describe('daemon: a database the system refuses to write', () => {
  it('says the system refused a file, not that the data is damaged, under a file size limit', async () => {
    const { dir } = await initDataDir(join(root, 'efbig'))
    // 2 MiB in LevelDB's write-ahead log: opening it writes them out as a table, which a 500 KiB
    // file size limit refuses (EFBIG, "File too large").
    const db = await openNodeDb(join(dir, 'db'))
    const filler = db.sublevel<string, Uint8Array>('filler', { valueEncoding: 'view' })
    for (let i = 0; i < 32; i++) await filler.put(`k${i}`, new Uint8Array(64 * 1024).fill(i))
    await db.close()
    const proc = spawn(
      'bash',
      [
        '-c',
        'ulimit -f 500; exec "$0" "$@"',
        process.execPath,
        BIN,
        'start',
        '--dir',
        dir,
        '--allow-no-snapshot',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stderr = ''
    proc.stderr.on('data', (b: Buffer) => {
      stderr += b.toString()
    })
    const status = await new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)))
    expect(stderr).toMatch(
      /^error \[DB_UNREADABLE\]: .*File too large.*no damage to the data: lift the limit/,
    )
    expect(stderr).not.toContain('empty one')
    expect(status).toBe(3)
  }, 30_000)
})
