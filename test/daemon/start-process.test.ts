import { type ChildProcess, spawn } from 'node:child_process'
import { access, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { freePort } from './snapshot-fixture.js'

// Runs the compiled CLI (`npm test` builds first), exactly as an operator or a supervisor would.
const BIN = fileURLToPath(new URL('../../bin/qfs-node.js', import.meta.url))
const DIST_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

const quiet = { stdout: () => {}, stderr: () => {}, isTty: false }

async function cli(...argv: string[]): Promise<void> {
  let err = ''
  const status = await main(argv, { ...quiet, stderr: (t) => void (err += t) })
  if (status !== 0) throw new Error(`qfs-node ${argv.join(' ')} -> ${status}: ${err}`)
}

/**
 * A node directory listening on a fixed loopback port (an address a snapshot can name before the
 * node runs), an authority key in `root`, and the epoch-0 snapshot naming the node.
 */
async function signedNode(root: string, dir: string): Promise<void> {
  await cli('init', '--dir', dir)
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({ listen: [`/ip4/127.0.0.1/tcp/${await freePort()}`] }),
  )
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
    await signedNode(root, dir)
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
      // In place, as an operator updates a running node's file before SIGHUP.
      '--force',
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

interface Started {
  proc: ChildProcess
  /** The parsed stdout lines so far (the ready line and the JSON log). */
  lines: Array<Record<string, unknown>>
  stderr: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Resolves with the first stdout line (seen or to come) that `match` accepts; rejects at exit. */
  line(match: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>
}

/** `qfs-node start` with a pipe on stdin, as a supervisor (the devnet) runs it. */
function startChild(args: string[]): Started {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('QFS_')))
  const proc = spawn(process.execPath, [BIN, 'start', ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] })
  proc.stdin!.on('error', () => {})
  let stderr = ''
  proc.stderr!.on('data', (d) => void (stderr += d))
  const lines: Array<Record<string, unknown>> = []
  const waiters: Array<() => void> = []
  createInterface({ input: proc.stdout! }).on('line', (text) => {
    lines.push(JSON.parse(text) as Record<string, unknown>)
    for (const w of waiters.splice(0)) w()
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('close', (code, signal) => resolve({ code, signal })),
  )
  let done = false
  void exited.then(() => {
    done = true
    for (const w of waiters.splice(0)) w()
  })
  const line = async (match: (l: Record<string, unknown>) => boolean) => {
    for (;;) {
      const found = lines.find(match)
      if (found !== undefined) return found
      if (done) throw new Error(`exited without the line: ${JSON.stringify(lines)} ${stderr}`)
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }
  return { proc, lines, stderr: () => stderr, exited, line }
}

const msg = (text: string) => (l: Record<string, unknown>) => l.msg === text
const isReady = (l: Record<string, unknown>) => l.event === 'ready'

/** Signals around the edges of a node's life, and the supervisor's stdin pipe (docs/operations.md). */
describe('qfs-node start: signals and the supervisor pipe', () => {
  let root: string
  let dir: string
  let trust: string
  let running: Started | undefined

  beforeAll(async () => {
    await access(DIST_MAIN).catch(() => {
      throw new Error('dist/ is missing: run `npm run build` first (npm test does)')
    })
    root = await mkdtemp(join(tmpdir(), 'qfs-start-sig-'))
    dir = join(root, 'node')
    trust = join(root, 'authority.json.pub')
    await signedNode(root, dir)
  })

  afterEach(() => {
    if (running !== undefined && running.proc.exitCode === null && running.proc.signalCode === null)
      running.proc.kill('SIGKILL')
    running = undefined
  })

  afterAll(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  })

  it('with --stop-on-stdin-eof stops gracefully when its stdin reaches end of file', async () => {
    running = startChild(['--dir', dir, '--trust', trust, '--stop-on-stdin-eof'])
    await running.line(isReady)
    running.proc.stdin!.end()
    expect(await running.exited).toEqual({ code: 0, signal: null })
    await running.line(msg('stdin closed (the supervisor is gone): stopping'))
    await running.line(msg('stopped'))
    expect(running.stderr()).toBe('')
    await expect(access(join(dir, 'run.json'))).rejects.toThrow()
  })

  it('without the flag runs on when its stdin closes', async () => {
    running = startChild(['--dir', dir, '--trust', trust])
    const ready = await running.line(isReady)
    running.proc.stdin!.end()
    // A round trip through the node after the close: a SIGHUP reload, then the API.
    running.proc.kill('SIGHUP')
    await running.line(msg('snapshot reloaded'))
    expect(running.proc.exitCode).toBe(null)
    const status = (await (await fetch(`${ready.api}/v1/status`)).json()) as { ready: boolean }
    expect(status.ready).toBe(true)
    running.proc.kill('SIGTERM')
    expect(await running.exited).toEqual({ code: 0, signal: null })
  })

  it('on a SIGHUP with no snapshot file warns, keeps the snapshot in force, and does not say reloaded', async () => {
    const file = join(dir, 'snapshot.json')
    running = startChild(['--dir', dir, '--trust', trust])
    await running.line(isReady)
    await rename(file, `${file}.away`)
    try {
      running.proc.kill('SIGHUP')
      await running.line(msg('no snapshot file was there to reload: the snapshot in force stays'))
    } finally {
      await rename(`${file}.away`, file)
    }
    // The next reload finds the file again; the missing file's turn left no "reloaded" line behind.
    running.proc.kill('SIGHUP')
    const reloaded = await running.line(msg('snapshot reloaded'))
    expect(running.lines.filter(msg('snapshot reloaded'))).toEqual([reloaded])
    expect(reloaded).toMatchObject({ changed: false, epoch: 0 })
    running.proc.kill('SIGTERM')
    expect(await running.exited).toEqual({ code: 0, signal: null })
  })

  it('survives a SIGHUP before the ready line and re-reads the snapshot once running', async () => {
    running = startChild(['--dir', dir, '--trust', trust])
    await running.line(msg('starting'))
    running.proc.kill('SIGHUP')
    await running.line(isReady)
    const reloaded = await running.line(msg('snapshot reloaded'))
    expect(running.lines.indexOf(reloaded)).toBeGreaterThan(running.lines.findIndex(isReady))
    expect(running.proc.exitCode).toBe(null)
    running.proc.kill('SIGTERM')
    expect(await running.exited).toEqual({ code: 0, signal: null })
  })

  it('exits 0 at once on a signal after "stopped" (the stop is done), not by the signal', async () => {
    running = startChild(['--dir', dir, '--trust', trust])
    await running.line(isReady)
    running.proc.kill('SIGTERM')
    await running.line(msg('stopped'))
    running.proc.kill('SIGTERM')
    running.proc.kill('SIGHUP')
    expect(await running.exited).toEqual({ code: 0, signal: null })
    expect(running.stderr()).toBe('')
    await expect(access(join(dir, 'run.json'))).rejects.toThrow()
  })
})
