import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dataPaths, initDataDir, writeRunInfo } from '../../src/daemon/data-dir.js'
import { devnetPaths, prepareDevnet } from '../../src/daemon/devnet-plan.js'
import { runCli } from '../cli/run.js'

/**
 * A devnet directory whose daemons still run, and a plain node's data directory, are refused before
 * anything is written (walkthrough L13). Daemons are stood in for by run.json files naming a live pid
 * (this test's own process) or a dead one (a child that has exited): nothing is started.
 */

const NODES = 3

/** Every file a second devnet would rewrite, by path, with its bytes. */
async function devnetFiles(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  const read = async (path: string) => {
    out[path] = await readFile(path, 'utf8')
  }
  await read(devnetPaths(dir).state)
  for (let i = 1; i <= NODES; i++) {
    await read(dataPaths(devnetPaths(dir).node(i)).config)
    await read(dataPaths(devnetPaths(dir).node(i)).snapshot)
  }
  return out
}

async function announce(dir: string, index: number, pid: number): Promise<void> {
  const node = devnetPaths(dir).node(index)
  await writeRunInfo(node, {
    pid,
    node_id: 'irrelevant-here',
    multiaddrs: ['/ip4/127.0.0.1/tcp/1'],
    api: 'http://127.0.0.1:1',
  })
}

/** The pid of a process that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await new Promise((resolve) => child.once('close', resolve))
  return child.pid!
}

describe('devnet on a busy directory', () => {
  let root: string
  let dir: string
  let before: Record<string, string>

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'qfs-devnet-busy-'))
    dir = join(root, 'net')
    await prepareDevnet({ dir, nodes: NODES })
    before = await devnetFiles(dir)
  })
  afterAll(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  })

  it('refuses a devnet whose daemons still run, naming each live pid, and writes nothing', async () => {
    await announce(dir, 1, process.pid)
    await announce(dir, 3, process.pid)
    // New ports would rewrite every config.json and sign a new snapshot if the directory were taken.
    const err = await prepareDevnet({ dir, nodes: NODES, basePort: 41000 }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ALREADY_RUNNING' })
    expect((err as Error).message).toBe(
      `a devnet is already running in ${dir} (node-1 pid ${process.pid}, node-3 pid ${process.pid}): stop it first (Ctrl-C where it runs) or give another --dir; if no qfs-node has these pids, a crash left their run.json behind: delete it`,
    )
    // Asked for another node count, it is still the running devnet that is reported.
    const other = await prepareDevnet({ dir, nodes: 5 }).catch((e: unknown) => e)
    expect(other).toMatchObject({ code: 'ALREADY_RUNNING' })
    expect(await devnetFiles(dir)).toEqual(before)
  })

  it('exits 3 from the CLI with one error line, before starting any daemon', async () => {
    // Were the directory taken, the daemons could not be ready within 1 ms: a DEVNET_NODE_FAILED instead.
    const r = await runCli(['devnet', '--dir', dir, '--base-port', '41000', '--start-timeout-ms', '1'])
    expect(r.status).toBe(3)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe(
      `error [ALREADY_RUNNING]: a devnet is already running in ${dir} (node-1 pid ${process.pid}, node-3 pid ${process.pid}): stop it first (Ctrl-C where it runs) or give another --dir; if no qfs-node has these pids, a crash left their run.json behind: delete it\n`,
    )
    expect(await devnetFiles(dir)).toEqual(before)
  })

  it('takes the directory back when every run.json is stale (its daemon was killed)', async () => {
    const dead = await deadPid()
    await announce(dir, 1, dead)
    await announce(dir, 3, 0)
    const plan = await prepareDevnet({ dir, nodes: NODES, basePort: 41000 })
    expect(plan.nodes.map((n) => n.tcpPort)).toEqual([41000, 41002, 41004])
    expect(await devnetFiles(dir)).not.toEqual(before)
  })

  it("refuses a node's data directory instead of creating node-1..N inside it", async () => {
    const plain = join(root, 'plain')
    await initDataDir(plain)
    const entries = (await readdir(plain)).sort()
    const err = await prepareDevnet({ dir: plain, nodes: NODES }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'INVALID_INPUT' })
    expect((err as Error).message).toBe(
      `${plain} is a node's data directory, not a devnet directory: give the devnet a directory of its own`,
    )
    // Running, it says so; the CLI refuses it as bad input (exit 2).
    await writeRunInfo(plain, {
      pid: process.pid,
      node_id: 'irrelevant-here',
      multiaddrs: [],
      api: 'http://127.0.0.1:1',
    })
    const r = await runCli(['devnet', '--dir', plain, '--nodes', String(NODES), '--start-timeout-ms', '1'])
    expect(r.status).toBe(2)
    expect(r.stderr).toBe(
      `error [INVALID_ARGUMENT]: ${plain} is a node's data directory (a node runs there, pid ${process.pid}), not a devnet directory: give the devnet a directory of its own\n`,
    )
    expect(existsSync(join(plain, 'node-1'))).toBe(false)
    expect((await readdir(plain)).sort()).toEqual([...entries, 'run.json'].sort())
  })
})

describe('devnet with a node directory gone', () => {
  let root: string
  afterAll(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  })

  it('is refused with the way back, before a new identity is made in its place', async () => {
    root = await mkdtemp(join(tmpdir(), 'qfs-devnet-gone-'))
    const dir = join(root, 'net')
    await prepareDevnet({ dir, nodes: NODES })
    const gone = devnetPaths(dir).node(2)
    await rm(gone, { recursive: true })
    const err = await prepareDevnet({ dir }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'INVALID_DATA_DIR' })
    expect((err as Error).message).toMatch(
      /no longer holds node-2 .*restore that directory, or start a new devnet/,
    )
    // Nothing was made in its place: restoring the directory is still possible.
    expect(existsSync(gone)).toBe(false)
  })
})
