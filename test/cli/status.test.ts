import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initDataDir, writeRunInfo } from '../../src/daemon/data-dir.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { runCli } from './run.js'

let root = ''
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-cli-status-'))
})
afterAll(async () => {
  if (root !== '') await rm(root, { recursive: true, force: true })
})

/** A loopback port nothing listens on: one the system just handed out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** The pid of a process that has ended. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', ''])
  expect(child.status).toBe(0)
  return child.pid!
}

describe('qfs-node status', () => {
  it('says a node is not running when its run.json outlived it (stale pid)', async () => {
    const { dir, nodeId } = await initDataDir(join(root, 'killed'))
    const pid = deadPid()
    const port = await closedPort()
    await writeRunInfo(dir, { pid, node_id: nodeId, multiaddrs: [], api: `http://127.0.0.1:${port}` })
    const r = await runCli(['status', '--dir', dir])
    expect(r.status).toBe(3)
    expect(r.stderr).toBe(
      `error [NOT_RUNNING]: no node is running in ${dir} (stale run.json: pid ${pid} is not alive; the node stopped without removing it)\n`,
    )
  })

  it('asks the API of a live pid, and names the socket error when it refuses (ECONNREFUSED)', async () => {
    const { dir, nodeId } = await initDataDir(join(root, 'alive'))
    const api = `http://127.0.0.1:${await closedPort()}`
    await writeRunInfo(dir, { pid: process.pid, node_id: nodeId, multiaddrs: [], api })
    const r = await runCli(['status', '--dir', dir])
    expect(r.status).toBe(3)
    expect(r.stderr).toBe(`error [NODE_UNAVAILABLE]: no answer from ${api} (ECONNREFUSED)\n`)
  })

  it('points at the API URL when --api names a libp2p port, which drops HTTP without an answer', async () => {
    const node = await createQfsLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    try {
      const port = /\/tcp\/(\d+)/.exec(node.getMultiaddrs()[0]!.toString())![1]
      const r = await runCli(['status', '--api', `http://127.0.0.1:${port}`])
      expect(r.status).toBe(3)
      expect(r.stderr).toMatch(
        /^error \[NODE_UNAVAILABLE\]: no answer from http:\/\/127\.0\.0\.1:\d+ \((ECONNRESET|UND_ERR_SOCKET): the connection was closed without an HTTP answer; is that a libp2p port\? The API URL is "api" in run\.json or devnet\.json\)\n$/,
      )
    } finally {
      await node.stop()
    }
  })

  it('gives the real reason for a port fetch will not dial, not "TypeError"', async () => {
    const r = await runCli(['status', '--api', 'http://127.0.0.1:1'])
    expect(r.status).toBe(3)
    expect(r.stderr).not.toContain('TypeError')
    expect(r.stderr).toBe(
      'error [NODE_UNAVAILABLE]: no answer from http://127.0.0.1:1 (bad port: fetch refuses to connect to this port; use another API port)\n',
    )
  })

  it('says how long it waited when the API never answers', async () => {
    // Accepts the connection and never answers.
    const sockets: Socket[] = []
    const silent = createServer((socket) => void sockets.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const { port } = silent.address() as { port: number }
    try {
      const r = await runCli(['status', '--api', `http://127.0.0.1:${port}`, '--timeout-ms', '200'])
      expect(r.status).toBe(3)
      expect(r.stderr).toBe(
        `error [NODE_UNAVAILABLE]: no answer from http://127.0.0.1:${port} (no answer within 200 ms)\n`,
      )
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => silent.close(resolve))
    }
  })
})
