import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { QfsClient } from '../../src/sdk/client.js'

const BIN = fileURLToPath(new URL('../../bin/qfs-node.js', import.meta.url))

interface DevnetNode {
  node_id: string
  multiaddrs: string[]
  api: string
  dir: string
}

/** A devnet whose processes (all its daemons) may write no file past `limitKib` (ulimit -f). */
function limitedDevnet(dir: string, limitKib: number): { child: ChildProcess; ready: Promise<DevnetNode[]> } {
  const child = spawn(
    'bash',
    [
      '-c',
      `ulimit -f ${limitKib}; exec "$0" "$@"`,
      process.execPath,
      BIN,
      'devnet',
      '--nodes',
      '3',
      '--dir',
      dir,
      '--json',
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const ready = new Promise<DevnetNode[]>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString()
      for (const line of out.split('\n')) {
        try {
          const v = JSON.parse(line) as { event?: string; nodes?: DevnetNode[] }
          if (v.event === 'ready') resolve(v.nodes!)
        } catch {
          // Not a whole JSON line yet.
        }
      }
    })
    child.once('close', (code) => reject(new Error(`devnet exited (${code}) before it was ready`)))
  })
  return { child, ready }
}

/**
 * A node whose disk refuses its writes (here a file size limit) fails every request; it must say so
 * where an operator and a load balancer look: /readyz not ready with `store` false, and an error
 * line in its log (fault walkthrough: it stayed ready and logged nothing).
 */
describe('a node whose audit log cannot be written', () => {
  let root: string | undefined
  let child: ChildProcess | undefined
  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('close', resolve))
      child.kill('SIGINT')
      await exited
    }
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  })

  it('reports not ready with store false and logs the failure once', async () => {
    root = await mkdtemp(join(tmpdir(), 'qfs-log-failure-'))
    const devnet = limitedDevnet(join(root, 'net'), 2048)
    child = devnet.child
    const nodes = await devnet.ready
    for (const n of nodes) expect((await fetch(`${n.api}/readyz`)).status).toBe(200)
    const client = await QfsClient.create({ node: nodes[0]!.multiaddrs[0]! })
    const meta = { author_node_id: 'limits', created_at_tick: 1 }
    try {
      // 6 MiB on 3 nodes with 3 replicas: each node's LevelDB log passes the 2 MiB limit (EFBIG),
      // after which LevelDB refuses every write, the audit log's included.
      await client.putContent(objectId('limits', 'big'), 1, new Uint8Array(6 * 1024 * 1024).fill(7), meta)
      for (let i = 0; i < 3; i++)
        await client.putContent(objectId('limits', `small-${i}`), 1, new Uint8Array(10), meta)
    } finally {
      await client.close()
    }
    const failing: DevnetNode[] = []
    for (const n of nodes) {
      const r = await fetch(`${n.api}/readyz`)
      const body = (await r.json()) as { ready: boolean; checks: { store: boolean } }
      if (r.status === 503 && body.checks.store === false && !body.ready) failing.push(n)
    }
    expect(failing.length).toBeGreaterThan(0)
    for (const n of failing) {
      const log = await readFile(join(n.dir, 'node.log'), 'utf8')
      const lines = log.split('\n').filter((l) => l.includes('the audit log cannot be written'))
      expect(lines).toHaveLength(1)
      expect(JSON.parse(lines[0]!)).toMatchObject({
        level: 'error',
        reason: expect.stringMatching(/File too large/),
      })
    }
  }, 90_000)
})
