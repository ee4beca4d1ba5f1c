import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer as createHttpServer } from 'node:http'
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

  it('refuses a JSON answer that is no node status (another HTTP service) in one line, not a stack trace', async () => {
    const bodies: Record<string, string> = {
      '/empty': '{}',
      '/null': 'null',
      '/old': JSON.stringify(oldStatus()),
    }
    const server = createHttpServer((req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(bodies[(req.url ?? '').replace('/v1/status', '')] ?? '{}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const api = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    try {
      for (const [path, problem] of [
        ['/empty', 'store: not an object'],
        ['/null', 'not a JSON object'],
      ]) {
        const r = await runCli(['status', '--api', `${api}${path}`])
        expect(r.status).toBe(3)
        expect(r.stderr).toBe(
          `error [NODE_UNAVAILABLE]: ${api}${path} did not answer a node status (${problem}); is that a qfs-node operator API? The API URL is "api" in run.json or devnet.json\n`,
        )
      }
      // An older node's status, without `space` or `suspect_peers`, still prints.
      const r = await runCli(['status', '--api', `${api}/old`])
      expect(r.stderr).toBe('')
      expect(r.status).toBe(0)
      expect(r.stdout).toContain('store    1 objects, 2 versions, 3 shards, 4 bytes\n')
      expect(r.stdout).not.toContain('space')
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it('sends --api-token as the bearer token, over $QFS_API_TOKEN, and $QFS_API_TOKEN without the flag', async () => {
    const server = createHttpServer((req, res) => {
      res.setHeader('content-type', 'application/json')
      if (req.headers.authorization === 'Bearer right') res.end(JSON.stringify(oldStatus()))
      else {
        res.statusCode = 401
        res.end(JSON.stringify({ ok: false, code: 'UNAUTHORIZED', message: 'no' }))
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const api = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    const saved = process.env.QFS_API_TOKEN
    try {
      process.env.QFS_API_TOKEN = 'wrong'
      const flag = await runCli(['status', '--api', api, '--api-token', 'right'])
      expect(flag.stderr).toBe('')
      expect(flag.status).toBe(0)
      const env = await runCli(['status', '--api', api])
      expect(env.stderr).toBe(`error [UNAUTHORIZED]: ${api}: no\n`)
      expect(env.status).toBe(3)
      process.env.QFS_API_TOKEN = 'right'
      expect((await runCli(['status', '--api', api])).status).toBe(0)
    } finally {
      if (saved === undefined) delete process.env.QFS_API_TOKEN
      else process.env.QFS_API_TOKEN = saved
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it("escapes control characters in what the URL answered, and keeps only a code of ours' form", async () => {
    const server = createHttpServer((req, res) => {
      res.setHeader('content-type', 'application/json')
      if (req.url === '/bad/v1/status') {
        res.statusCode = 500
        res.end(JSON.stringify({ code: '\u001b[2JX\nY', message: 'm\nerror [FAKE]: \u001b]0;t\u0007' }))
      } else res.end(JSON.stringify({ ...oldStatus(), version: '1\u001b[31m\nfake 2' }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const api = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    try {
      const refused = await runCli(['status', '--api', `${api}/bad`])
      expect(refused.status).toBe(3)
      expect(refused.stderr).toBe(`error [HTTP_500]: ${api}/bad: m\\u000aerror [FAKE]: \\u001b]0;t\\u0007\n`)
      const shown = await runCli(['status', '--api', api])
      expect(shown.status).toBe(0)
      expect(shown.stdout).toContain('version  1\\u001b[31m\\u000afake 2\n')
      expect(shown.stdout).not.toMatch(/\p{Cc}(?<!\n)/u)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
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

/** A status as a node from before `space` and `suspect_peers` answered it. */
function oldStatus(): Record<string, unknown> {
  return {
    node_id: '12D3KooWtest',
    version: '0.0.9',
    ready: true,
    epoch: 0,
    snapshot_hash: 'ab',
    multiaddrs: ['/ip4/127.0.0.1/tcp/4001'],
    peers: 2,
    store: { objects: 1, versions: 2, shards: 3, bytes_stored: 4, staged: 0 },
    log: { entries: 5, last_event_id: null, covered_entries: 5, checkpoints: 1, last_checkpoint_id: null },
    uptime_seconds: 7,
  }
}
