import { type ChildProcess, spawn } from 'node:child_process'
import { access, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'

// Runs the compiled CLI (`npm test` builds first), exactly as an operator or a supervisor would.
const BIN = fileURLToPath(new URL('../../bin/qfs-node.js', import.meta.url))
const DIST_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

const quiet = { stdout: () => {}, stderr: () => {}, isTty: false }

async function cli(...argv: string[]): Promise<void> {
  let err = ''
  const status = await main(argv, { ...quiet, stderr: (t) => void (err += t) })
  if (status !== 0) throw new Error(`qfs-node ${argv.join(' ')} -> ${status}: ${err}`)
}

describe('qfs-node start as a child process', () => {
  let root: string
  let dir: string
  let child: ChildProcess | undefined

  beforeAll(async () => {
    await access(DIST_MAIN).catch(() => {
      throw new Error('dist/ is missing: run `npm run build` first (npm test does)')
    })
    root = await mkdtemp(join(tmpdir(), 'qfs-start-'))
    dir = join(root, 'node')
    await cli('init', '--dir', dir)
    await cli('aegis', 'keygen', '--out', join(root, 'authority.json'))
    await cli(
      'aegis',
      'sign',
      '--key',
      join(root, 'authority.json'),
      '--node-dir',
      dir,
      '--epoch',
      '0',
      '--out',
      join(dir, 'snapshot.json'),
    )
  })

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL')
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  })

  it('prints the ready line, serves its API, reloads on SIGHUP and stops cleanly on SIGTERM', async () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('QFS_')))
    const proc = spawn(
      process.execPath,
      [BIN, 'start', '--dir', dir, '--trust', join(root, 'authority.json.pub')],
      {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    child = proc
    let stderr = ''
    proc.stderr!.on('data', (d) => void (stderr += d))
    const lines: string[] = []
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.on('exit', (code, signal) => resolve({ code, signal })),
    )
    const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        lines.push(line)
        const value = JSON.parse(line) as Record<string, unknown>
        if (value.event === 'ready') resolve(value)
      })
      exited.then(({ code }) => reject(new Error(`exited with ${code} before ready: ${stderr}`)))
    })

    expect(Object.keys(ready)).toEqual(['event', 'node_id', 'multiaddrs', 'api'])
    const nodeId = JSON.parse(await readFile(join(dir, 'node.json'), 'utf8')).node_id
    expect(ready.node_id).toBe(nodeId)
    expect(ready.multiaddrs).toEqual([
      expect.stringMatching(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${nodeId}$`)),
    ])
    expect(ready.api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const run = JSON.parse(await readFile(join(dir, 'run.json'), 'utf8'))
    expect(run).toMatchObject({
      pid: proc.pid,
      node_id: nodeId,
      api: ready.api,
      multiaddrs: ready.multiaddrs,
    })

    const status = await (await fetch(`${ready.api}/v1/status`)).json()
    expect(status).toMatchObject({ node_id: nodeId, epoch: 0, ready: true })

    // The next epoch's snapshot, picked up without a restart.
    await cli(
      'aegis',
      'sign',
      '--key',
      join(root, 'authority.json'),
      '--prev',
      join(dir, 'snapshot.json'),
      '--node-dir',
      dir,
      '--out',
      join(dir, 'snapshot.json'),
    )
    proc.kill('SIGHUP')
    let epoch = 0
    for (let i = 0; i < 50 && epoch !== 1; i++) {
      await new Promise((r) => setTimeout(r, 50))
      epoch = ((await (await fetch(`${ready.api}/v1/status`)).json()) as { epoch: number }).epoch
    }
    expect(epoch).toBe(1)

    proc.kill('SIGTERM')
    expect(await exited).toEqual({ code: 0, signal: null })
    expect(stderr).toBe('')
    await expect(access(join(dir, 'run.json'))).rejects.toThrow()
    // Everything on stdout is JSON lines: the ready line and the structured log.
    const logs = lines.map((l) => JSON.parse(l) as { msg?: string; level?: string })
    expect(logs.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['node started', 'snapshot reloaded', 'stopped']),
    )
    expect(logs.filter((l) => l.level === 'error')).toEqual([])
  })
})
