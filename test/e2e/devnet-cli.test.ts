import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readPublicKeyFile } from '../../src/daemon/authority-key.js'
import { verifySnapshot } from '../../src/membership/snapshot.js'

/** `qfs-node devnet` as a user runs it: a child process, stopped with Ctrl-C (SIGINT). */

const BIN = fileURLToPath(new URL('../../bin/qfs-node.js', import.meta.url))

interface Run {
  child: ChildProcess
  lines: string[]
  stderr: () => string
  exited: Promise<number | null>
  /** Resolves with the first stdout line that parses as JSON with this event. */
  event(name: string): Promise<Record<string, unknown>>
}

function devnet(args: string[]): Run {
  const child = spawn(process.execPath, [BIN, 'devnet', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  let err = ''
  let partial = ''
  const waiters: Array<() => void> = []
  child.stdout!.on('data', (chunk: Buffer) => {
    partial += chunk.toString('utf8')
    const parts = partial.split('\n')
    partial = parts.pop()!
    lines.push(...parts)
    for (const w of waiters.splice(0)) w()
  })
  child.stderr!.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8')
  })
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  exited.then(() => {
    for (const w of waiters.splice(0)) w()
  })
  const event = async (name: string) => {
    for (;;) {
      for (const line of lines) {
        try {
          const v = JSON.parse(line) as Record<string, unknown>
          if (v.event === name) return v
        } catch {
          // Not a JSON line.
        }
      }
      if (child.exitCode !== null)
        throw new Error(`devnet exited (${child.exitCode}) without ${name}: ${err}`)
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }
  return { child, lines, stderr: () => err, exited, event }
}

describe('qfs-node devnet', () => {
  let dir: string

  beforeAll(async () => {
    if (!existsSync(new URL('../../dist/cli/main.js', import.meta.url))) {
      throw new Error('the devnet runs the compiled CLI: run `npm run build` first (npm test does)')
    }
    dir = await mkdtemp(join(tmpdir(), 'qfs-e2e-devnet-cli-'))
  })

  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('documents itself in --help', async () => {
    const run = devnet(['--help'])
    expect(await run.exited).toBe(0)
    const help = run.lines.join('\n')
    for (const word of ['--nodes', '--dir', '--base-port', '--json', 'devnet.json', 'SIGINT', 'node.log']) {
      expect(help).toContain(word)
    }
  })

  it('starts, writes devnet.json and the signed snapshot, stops on SIGINT with status 0, and comes back the same', async () => {
    const net = join(dir, 'net')
    const first = devnet(['--nodes', '3', '--dir', net, '--json', '--log-level', 'warn'])
    const ready = await first.event('ready')
    const nodes = ready.nodes as Array<{
      node_id: string
      multiaddrs: string[]
      api: string
      pid: number
      dir: string
    }>
    expect(nodes).toHaveLength(3)
    const listed = JSON.parse(await readFile(join(net, 'devnet.json'), 'utf8')) as { nodes: typeof nodes }
    expect(listed.nodes).toEqual(nodes)
    expect((await stat(join(net, 'aegis-authority.json'))).mode & 0o777).toBe(0o600)
    // Each node holds the snapshot the devnet authority signed, listing every node at its address.
    const authority = await readPublicKeyFile(join(net, 'aegis-authority.json.pub'))
    for (const n of nodes) {
      const snapshot = JSON.parse(await readFile(join(n.dir, 'snapshot.json'), 'utf8'))
      const verdict = verifySnapshot(snapshot, [authority])
      if (!verdict.ok) throw new Error(verdict.detail)
      expect(verdict.snapshot.nodes.map((e) => e.node_id).sort()).toEqual(nodes.map((x) => x.node_id).sort())
      for (const e of verdict.snapshot.nodes) {
        const running = nodes.find((x) => x.node_id === e.node_id)!
        expect(running.multiaddrs[0]).toBe(`${e.multiaddrs[0]}/p2p/${e.node_id}`)
      }
      // The daemon's output went to its log, not to the devnet's terminal.
      expect((await readFile(join(n.dir, 'node.log'), 'utf8')).length).toBeGreaterThan(0)
    }
    expect(first.lines.some((l) => l.includes('"level"'))).toBe(false)
    first.child.kill('SIGINT')
    expect(await first.exited).toBe(0)
    expect(await first.event('stopped')).toMatchObject({ signal: 'SIGINT' })
    for (const n of nodes) expect(() => process.kill(n.pid, 0)).toThrow()
    // The list names running daemons only; a stopped devnet leaves no stale one behind.
    expect(existsSync(join(net, 'devnet.json'))).toBe(false)

    const again = devnet(['--dir', net, '--json', '--log-level', 'warn'])
    const back = (await again.event('ready')).nodes as typeof nodes
    expect(back.map((n) => [n.node_id, n.multiaddrs, n.api, n.dir])).toEqual(
      nodes.map((n) => [n.node_id, n.multiaddrs, n.api, n.dir]),
    )
    again.child.kill('SIGTERM')
    expect(await again.exited).toBe(0)
  }, 60_000)

  it('stops the others and exits non-zero with the log tail when a node dies during startup', async () => {
    // Node 2's port is taken before the devnet starts: that daemon cannot listen and exits.
    const blocker = createServer()
    const port = await new Promise<number>((resolve) =>
      blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as { port: number }).port)),
    )
    try {
      const net = join(dir, 'broken')
      // The list a killed devnet left behind: no start, failed or not, may leave it to be read.
      await mkdir(net)
      await writeFile(join(net, 'devnet.json'), '{"nodes": [{"node_id": "stale"}]}\n')
      const run = devnet([
        '--nodes',
        '3',
        '--dir',
        net,
        '--base-port',
        String(port - 2),
        '--log-level',
        'warn',
      ])
      const code = await run.exited
      expect(code).toBe(3)
      expect(run.stderr()).toContain('node-2')
      expect(run.stderr()).toContain('DEVNET_NODE_FAILED')
      expect(run.stderr()).toContain('last lines')
      // Node 1 started and was stopped again: its run file is gone.
      expect(existsSync(join(net, 'node-1', 'run.json'))).toBe(false)
      expect(existsSync(join(net, 'devnet.json'))).toBe(false)
    } finally {
      blocker.close()
    }
  }, 60_000)

  it('refuses fewer nodes than the replication factor (3), creating nothing', async () => {
    for (const nodes of ['0', '1', '2']) {
      const net = join(dir, `few-${nodes}`)
      const run = devnet(['--nodes', nodes, '--dir', net])
      expect(await run.exited).toBe(2)
      expect(run.stderr()).toBe(
        `error [INVALID_ARGUMENT]: --nodes must be an integer in 3..64, not "${nodes}"\n`,
      )
      expect(existsSync(net)).toBe(false)
    }
  })

  it('leaves no daemon behind when it is killed outright (SIGKILL), and stops on SIGHUP', async () => {
    const net = join(dir, 'killed')
    const first = devnet(['--nodes', '3', '--dir', net, '--json', '--log-level', 'info'])
    const nodes = (await first.event('ready')).nodes as Array<{ pid: number; dir: string }>
    expect(existsSync(join(net, 'devnet.json'))).toBe(true)
    first.child.kill('SIGKILL')
    await first.exited
    // Each daemon sees its stdin pipe close and stops itself gracefully: run.json goes only in a clean
    // stop, and what it logs meanwhile reaches node.log, which it writes itself.
    await allGone(nodes.map((n) => n.pid))
    for (const n of nodes) {
      expect(existsSync(join(n.dir, 'run.json'))).toBe(false)
      const log = await readFile(join(n.dir, 'node.log'), 'utf8')
      expect(log).toContain('"msg":"stdin closed (the supervisor is gone): stopping"')
      expect(log).toContain('"msg":"stopped"')
    }
    // Nor is a list of dead pids left behind: the daemons removed what the devnet could not.
    expect(existsSync(join(net, 'devnet.json'))).toBe(false)

    // The directory is intact: the same nodes come back, and a closed terminal (SIGHUP) stops them.
    const again = devnet(['--dir', net, '--json', '--log-level', 'warn'])
    const back = (await again.event('ready')).nodes as typeof nodes
    expect(back.map((n) => n.dir)).toEqual(nodes.map((n) => n.dir))
    again.child.kill('SIGHUP')
    expect(await again.exited).toBe(0)
    expect(await again.event('stopped')).toMatchObject({ signal: 'SIGHUP' })
    for (const n of back) expect(() => process.kill(n.pid, 0)).toThrow()
    for (const n of back) expect(existsSync(join(n.dir, 'run.json'))).toBe(false)
  }, 60_000)
})

/** Waits (at most 10 s) for every process of `pids` to be gone; kills and names the survivors. */
async function allGone(pids: number[]): Promise<void> {
  const alive = () =>
    pids.filter((pid) => {
      try {
        process.kill(pid, 0)
        return true
      } catch {
        return false
      }
    })
  for (let i = 0; i < 200 && alive().length > 0; i++) await new Promise((r) => setTimeout(r, 50))
  const survivors = alive()
  for (const pid of survivors) process.kill(pid, 'SIGKILL')
  if (survivors.length > 0)
    throw new Error(`daemons ${survivors.join(', ')} still ran 10 s after their devnet was killed`)
}
