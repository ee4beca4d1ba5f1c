import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { constants, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/**
 * `qfs-node quickstart` (`npm run demo`) interrupted: it stops the network it started and exits 128 +
 * the signal's number, so the next run finds no daemon holding its directories and ports.
 */

const BIN = fileURLToPath(new URL('../../bin/qfs-node.js', import.meta.url))

interface Run {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Resolves once stdout holds `text`; rejects if the command exits first. */
  printed(text: string): Promise<void>
}

function quickstart(dir: string): Run {
  const child = spawn(process.execPath, [BIN, 'quickstart', '--dir', dir, '--nodes', '3'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  const waiters: Array<() => void> = []
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString('utf8')
    for (const w of waiters.splice(0)) w()
  })
  child.stderr!.on('data', (d: Buffer) => void (err += d.toString('utf8')))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  )
  let done = false
  void exited.then(() => {
    done = true
    for (const w of waiters.splice(0)) w()
  })
  const printed = async (text: string) => {
    while (!out.includes(text)) {
      if (done) throw new Error(`quickstart exited without printing ${JSON.stringify(text)}: ${out}${err}`)
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }
  return { child, stdout: () => out, stderr: () => err, exited, printed }
}

/** The pids of `qfs-node start` processes on a node directory of `dir`. */
async function daemonsOf(dir: string): Promise<number[]> {
  const pids: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let cmdline: string
    try {
      cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8')
    } catch {
      continue // Gone meanwhile.
    }
    const args = cmdline.split('\0')
    if (args.includes('start') && args.some((a) => a.startsWith(join(dir, 'node-')))) pids.push(Number(entry))
  }
  return pids
}

describe('qfs-node quickstart, interrupted', () => {
  let root: string
  let dir: string

  beforeAll(async () => {
    if (!existsSync(new URL('../../dist/cli/main.js', import.meta.url))) {
      throw new Error('quickstart runs the compiled CLI: run `npm run build` first (npm test does)')
    }
    root = await mkdtemp(join(tmpdir(), 'qfs-e2e-quickstart-'))
    dir = join(root, 'demo')
  })

  afterAll(async () => {
    if (root === undefined) return
    for (const pid of await daemonsOf(dir)) process.kill(pid, 'SIGKILL')
    await rm(root, { recursive: true, force: true })
  })

  it('on SIGINT before any daemon started: ends by SIGINT and starts none', async () => {
    const run = quickstart(dir)
    await run.printed('1. conformance')
    run.child.kill('SIGINT')
    expect(await run.exited).toEqual({ code: null, signal: 'SIGINT' })
    expect(run.stderr()).toMatch(/interrupted \(SIGINT\)/)
    expect(run.stdout()).not.toContain('ready:')
    await expectNetworkStopped()
  }, 60_000)

  async function expectNetworkStopped(): Promise<void> {
    expect(await daemonsOf(dir)).toEqual([])
    for (const i of [1, 2, 3]) expect(existsSync(join(dir, `node-${i}`, 'run.json'))).toBe(false)
  }

  it('on SIGINT while the daemons start: stops them and ends by SIGINT', async () => {
    const run = quickstart(dir)
    await run.printed('2. starting 3 daemons')
    // Some daemon process exists, none has said it is ready (that takes them a second or more).
    while ((await daemonsOf(dir)).length === 0) await new Promise((r) => setTimeout(r, 10))
    run.child.kill('SIGINT')
    expect(await run.exited).toEqual({ code: null, signal: 'SIGINT' })
    expect(run.stderr()).toContain('interrupted (SIGINT): stopping the network')
    expect(run.stdout()).not.toContain('ready:')
    expect(run.stdout()).not.toContain('FAILED')
    await expectNetworkStopped()
  }, 60_000)

  for (const [signal, status] of [
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    it(`on ${signal} once the network is up: stops it and ends by the signal (a shell shows ${status})`, async () => {
      const run = quickstart(dir)
      await run.printed('   ready: ')
      expect((await daemonsOf(dir)).length).toBe(3)
      run.child.kill(signal)
      expect(await run.exited).toEqual({ code: null, signal })
      expect(status).toBe(128 + constants.signals[signal])
      expect(run.stderr()).toContain(`interrupted (${signal}): stopping the network`)
      expect(run.stdout()).not.toContain('FAILED')
      await expectNetworkStopped()
    }, 60_000)
  }

  it('runs to the end on the same directory afterwards', async () => {
    const run = quickstart(dir)
    expect(await run.exited).toEqual({ code: 0, signal: null })
    expect(run.stdout()).toContain('demo OK')
    await expectNetworkStopped()
    // Node ids in one form on every line (the ready line, shard placement, the proof's holder): the
    // last characters, which tell Ed25519 peer ids apart (all begin with 12D3KooW).
    const state = JSON.parse(await readFile(join(dir, 'devnet-state.json'), 'utf8'))
    const ids: string[] = state.nodes.map((n: { node_id: string }) => n.node_id)
    const out = run.stdout()
    expect(out).not.toContain('12D3KooW')
    const ready = out.split('\n').find((line) => line.startsWith('   ready: '))!
    for (const [i, id] of ids.entries()) expect(ready).toContain(`node ${i + 1} …${id.slice(-6)} (api `)
    const shown = [...out.matchAll(/…([1-9A-HJ-NP-Za-km-z]{6})\b/g)].map((m) => m[1]!)
    // The ready line's three, four shards on three holders each, and the proof's holder.
    expect(shown).toHaveLength(3 + 4 * 3 + 1)
    for (const end of shown) expect(ids.filter((id) => id.endsWith(end))).toHaveLength(1)
  }, 90_000)
})
