import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Devnet } from '../../src/daemon/devnet.js'
import { devnetPaths } from '../../src/daemon/devnet-plan.js'

/**
 * Devnet's supervision of its daemons, with a stand-in daemon (FAKE below) in place of
 * `qfs-node start`: it prints the ready line for the node of its --dir, or behaves as the file
 * `fake-mode` in that directory says (exit, impostor, slow, stubborn). Nothing here needs dist/.
 */
const FAKE = `
import { readFileSync } from 'node:fs'
const dir = process.argv[process.argv.indexOf('--dir') + 1]
const { node_id } = JSON.parse(readFileSync(dir + '/node.json', 'utf8'))
let mode = 'ready'
try { mode = readFileSync(dir + '/fake-mode', 'utf8').trim() } catch {}
if (mode === 'exit') process.exit(7)
if (mode === 'stubborn') process.on('SIGTERM', () => {})
const id = mode === 'impostor' ? 'someone-else' : node_id
const ready = { event: 'ready', node_id: id, multiaddrs: ['/ip4/127.0.0.1/tcp/1/p2p/' + id], api: 'http://127.0.0.1:1' }
setTimeout(() => process.stdout.write(JSON.stringify(ready) + '\\n'), mode === 'slow' ? 400 : 0)
// Gone with the devnet, whatever ends it (as --stop-on-stdin-eof makes a real daemon).
process.stdin.on('end', () => process.exit(0)).resume()
`

let root: string
let bin: string
const running: Devnet[] = []

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-devnet-launch-'))
  bin = join(root, 'fake-daemon.mjs')
  await writeFile(bin, FAKE)
})
afterAll(async () => {
  for (const d of running) d.killAllNow()
  if (root !== undefined) await rm(root, { recursive: true, force: true })
})

async function prepared(name: string, modes: Record<number, string> = {}, stopTimeoutMs = 5_000) {
  const devnet = await Devnet.prepare({ dir: join(root, name), nodes: 3, bin, nodeArgs: [], stopTimeoutMs })
  running.push(devnet)
  for (const [index, mode] of Object.entries(modes)) await setMode(devnet, Number(index), mode)
  return devnet
}

const setMode = (devnet: Devnet, index: number, mode: string) =>
  writeFile(join(devnet.plan.nodes[index - 1]!.dir, 'fake-mode'), mode)

describe('Devnet with stand-in daemons', () => {
  it('lists each node with its own daemon pid and directory, in devnet.json as in nodes', async () => {
    const devnet = await prepared('list')
    const nodes = await devnet.launchAll()
    try {
      expect(nodes.map((n) => n.node_id)).toEqual(devnet.plan.nodes.map((p) => p.nodeId))
      expect(nodes.map((n) => n.dir)).toEqual(devnet.plan.nodes.map((p) => p.dir))
      for (const n of nodes) {
        expect(n.pid).not.toBe(process.pid)
        expect(() => process.kill(n.pid, 0)).not.toThrow()
      }
      expect(new Set(nodes.map((n) => n.pid)).size).toBe(3)
      const listed = JSON.parse(await readFile(devnetPaths(devnet.plan.dir).devnet, 'utf8'))
      expect(listed).toEqual({ nodes })
    } finally {
      await devnet.stop()
    }
    for (const n of nodes) expect(() => process.kill(n.pid, 0)).toThrow()
    expect(existsSync(devnetPaths(devnet.plan.dir).devnet)).toBe(false)
  })

  it('fails the start when a daemon says it is another node', async () => {
    const devnet = await prepared('impostor', { 2: 'impostor' })
    await expect(devnet.launchAll()).rejects.toMatchObject({
      code: 'DEVNET_NODE_FAILED',
      message: expect.stringContaining('started as someone-else'),
    })
    expect([1, 2, 3].filter((i) => devnet.running(i))).toEqual([])
    expect(existsSync(devnetPaths(devnet.plan.dir).devnet)).toBe(false)
  })

  it('removes the devnet.json a killed devnet left before its daemons are ready', async () => {
    const devnet = await prepared('stale', { 3: 'slow' })
    const path = devnetPaths(devnet.plan.dir).devnet
    await writeFile(path, JSON.stringify({ nodes: [{ node_id: 'dead', pid: 1 }] }))
    const launched = devnet.launchAll()
    await new Promise((r) => setTimeout(r, 150))
    const during = existsSync(path)
    await launched
    try {
      expect(during).toBe(false)
      expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ nodes: devnet.nodes })
    } finally {
      await devnet.stop()
    }
  })

  it('does not take a restarted daemon for ready on the ready line of its previous run', async () => {
    const devnet = await prepared('restart')
    await devnet.launchAll()
    try {
      await expect(devnet.restart(1)).rejects.toMatchObject({ code: 'DEVNET_NODE_FAILED' })
      await devnet.kill(1)
      await setMode(devnet, 1, 'exit')
      await expect(devnet.restart(1)).rejects.toMatchObject({
        code: 'DEVNET_NODE_FAILED',
        message: expect.stringContaining('exited during startup'),
      })
      expect(devnet.running(1)).toBe(false)
    } finally {
      await devnet.stop()
    }
  })

  it('tells onExit of a daemon that exits once ready, not of those its stop ends', async () => {
    const exits: string[] = []
    const devnet = await Devnet.prepare({
      dir: join(root, 'exits'),
      nodes: 3,
      bin,
      nodeArgs: [],
      onExit: (node, code, signal) => exits.push(`${node.name}:${code ?? signal}`),
    })
    running.push(devnet)
    await devnet.launchAll()
    await devnet.kill(2, 'SIGKILL')
    await new Promise((r) => setImmediate(r))
    expect(exits).toEqual(['node-2:SIGKILL'])
    await devnet.stop()
    await new Promise((r) => setTimeout(r, 20))
    expect(exits).toEqual(['node-2:SIGKILL'])
  })

  it('SIGKILLs a daemon that outlives its stop bound', async () => {
    const devnet = await prepared('stubborn', { 1: 'stubborn' }, 300)
    await devnet.launchAll()
    const started = Date.now()
    await devnet.stop()
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
    expect([1, 2, 3].filter((i) => devnet.running(i))).toEqual([])
  })
})
