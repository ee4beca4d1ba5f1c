import { spawn } from 'node:child_process'
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'

/**
 * Log lines of `qfs-node start` that docs/operations.md names, from the compiled command as an
 * operator runs it: a `QFS_*` variable that is no setting "is ignored ... and named in a warning at
 * start", a refused snapshot reload "is logged (`snapshot reload refused`) and the old one stays",
 * and the node named (`node_id`) on every line once it has read its identity.
 */

const BIN = fileURLToPath(new URL('../../bin/qfs-node.js', import.meta.url))
const DIST_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))
const quiet = { stdout: () => {}, stderr: () => {}, isTty: false }

let root = ''
afterAll(async () => {
  if (root !== '') await rm(root, { recursive: true, force: true })
})

type Line = Record<string, unknown> & { level: string; msg: string }

describe('qfs-node start: the warnings operations.md names', () => {
  it('names a QFS_* variable that is no setting, and logs a refused reload while the node runs on', async () => {
    await access(DIST_MAIN).catch(() => {
      throw new Error('dist/ is missing: run `npm run build` first (npm test does)')
    })
    root = await mkdtemp(join(tmpdir(), 'qfs-start-warnings-'))
    const dir = join(root, 'node')
    expect(await main(['init', '--dir', dir], quiet)).toBe(0)
    const env = {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('QFS_'))),
      QFS_LOG_LEVLE: 'debug',
    }
    const proc = spawn(process.execPath, [BIN, 'start', '--dir', dir, '--allow-no-snapshot'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const lines: Line[] = []
    const waiters: Array<() => void> = []
    createInterface({ input: proc.stdout! }).on('line', (text) => {
      lines.push(JSON.parse(text) as Line)
      for (const w of waiters.splice(0)) w()
    })
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)))
    const seen = async (test: (l: Line) => boolean): Promise<Line> => {
      for (;;) {
        const found = lines.find(test)
        if (found !== undefined) return found
        await Promise.race([
          new Promise<void>((resolve) => waiters.push(resolve)),
          exited.then((code) => {
            throw new Error(`the node exited (${code}): ${JSON.stringify(lines)}`)
          }),
        ])
      }
    }
    try {
      const warning = await seen((l) => l.msg === 'ignoring QFS_* variables that are no setting')
      expect(warning).toMatchObject({ level: 'warn', variables: ['QFS_LOG_LEVLE'] })
      await seen((l) => l.event === 'ready')

      await writeFile(join(dir, 'snapshot.json'), '{"schema": "qfs-epoch-snapshot/1"}')
      proc.kill('SIGHUP')
      const refused = await seen((l) => l.msg === 'snapshot reload refused')
      expect(refused.level).toBe('error')
      expect(JSON.stringify(refused)).toContain('SNAPSHOT_REJECTED')
      expect(lines.some((l) => l.msg === 'snapshot reloaded')).toBe(false)

      // "one [SIGHUP] during or after the stop is logged and ignored"
      proc.kill('SIGTERM')
      await seen((l) => l.msg === 'signal received: stopping')
      proc.kill('SIGHUP')
      expect(await seen((l) => l.msg === 'SIGHUP ignored: the node is stopping')).toMatchObject({
        level: 'info',
      })
    } finally {
      proc.kill('SIGTERM')
    }
    expect(await exited).toBe(0)
    // "Every other stdout line is a pino JSON log line (`level`, `time`, `msg`, `node_id`, ...)": every
    // line from the ready line on names the node, the refused reload and the stop included.
    const nodeId = JSON.parse(await readFile(join(dir, 'node.json'), 'utf8')).node_id
    const after = lines.slice(lines.findIndex((l) => l.event === 'ready'))
    expect(after.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['snapshot reload refused', 'signal received: stopping', 'stopped']),
    )
    expect(after.filter((l) => l.node_id !== nodeId).map((l) => l.msg ?? l.event)).toEqual([])
  }, 60_000)
})
