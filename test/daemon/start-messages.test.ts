import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { loadConfig } from '../../src/daemon/config.js'
import { startNode } from '../../src/daemon/daemon.js'
import { initDataDir } from '../../src/daemon/data-dir.js'
import { listenFailureMessage } from '../../src/daemon/listen-failure.js'
import { createLogger } from '../../src/daemon/logger.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'

let root = ''
let busy: Server
let busyPort = 0

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-start-messages-'))
  busy = createServer()
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
  busyPort = (busy.address() as { port: number }).port
})
afterAll(async () => {
  await new Promise((resolve) => busy?.close(resolve))
  if (root !== '') await rm(root, { recursive: true, force: true })
})

/** What libp2p throws when it cannot listen on `listen`, as it is (not our wording). */
async function libp2pListenError(listen: string[]): Promise<unknown> {
  try {
    const node = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen })
    await node.stop()
  } catch (err) {
    return err
  }
  throw new Error(`libp2p listened on ${listen.join(', ')}`)
}

function noStack(text: string): void {
  expect(text).not.toMatch(/\n\s+at /)
  expect(text).not.toMatch(/^\s*at /m)
  expect(text).not.toContain('faultTolerance')
}

describe('a listen address the node cannot use', () => {
  it('is one line naming the address and the errno, from libp2p’s own error (EADDRINUSE)', async () => {
    const addr = `/ip4/127.0.0.1/tcp/${busyPort}`
    const err = await libp2pListenError([addr])
    // The premise: libp2p's message is several lines with a stack.
    expect((err as Error).message.split('\n').length).toBeGreaterThan(2)
    expect(listenFailureMessage(err, [addr])).toBe(
      `cannot listen on ${addr}: address already in use (EADDRINUSE)`,
    )
  })

  it('names only the failed address among several, and an address not on this host (EADDRNOTAVAIL)', async () => {
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): no host has it, so binding it is EADDRNOTAVAIL.
    const listen = ['/ip4/127.0.0.1/tcp/0', '/ip4/192.0.2.1/tcp/4100']
    const err = await libp2pListenError(listen)
    expect(listenFailureMessage(err, listen)).toBe(
      'cannot listen on /ip4/192.0.2.1/tcp/4100: address not available (EADDRNOTAVAIL)',
    )
  })

  it('keeps the reason of a failure that has no errno, without its stack', async () => {
    const addr = '/ip4/127.0.0.1/udp/4000/quic-v1'
    const msg = listenFailureMessage(await libp2pListenError([addr]), [addr])
    expect(msg).toBe(`cannot listen on ${addr}: no transport was configured to listen on this address`)
  })

  it('finds the errno in a nested error of another shape (errors, cause)', () => {
    const inner = Object.assign(new Error('listen EACCES: permission denied 0.0.0.0:80'), {
      code: 'EACCES',
      syscall: 'listen',
    })
    const aggregate = new AggregateError(
      [new Error('other'), inner],
      'listening failed\n    at somewhere (x.js:1:1)',
    )
    expect(listenFailureMessage(aggregate, ['/ip4/0.0.0.0/tcp/80'])).toBe(
      'cannot listen on /ip4/0.0.0.0/tcp/80: permission denied (EACCES)',
    )
    const wrapped = new Error('could not start', { cause: inner })
    expect(listenFailureMessage(wrapped, ['/ip4/0.0.0.0/tcp/80'])).toBe(
      'cannot listen on /ip4/0.0.0.0/tcp/80: permission denied (EACCES)',
    )
  })

  it('stops startNode with START_FAILED and that line', async () => {
    const { dir } = await initDataDir(join(root, 'node-a'))
    const addr = `/ip4/127.0.0.1/tcp/${busyPort}`
    const config = await loadConfig({ dir, env: {}, flags: { listen: [addr], allow_no_snapshot: true } })
    const err = await startNode(config, { logger: createLogger('silent') }).catch((e: unknown) => e)
    expect(err).toMatchObject({
      code: 'START_FAILED',
      message: `cannot listen on ${addr}: address already in use (EADDRINUSE)`,
    })
  })

  it('makes `qfs-node start` print exactly one error line and exit 3', async () => {
    const { dir } = await initDataDir(join(root, 'node-b'))
    const addr = `/ip4/127.0.0.1/tcp/${busyPort}`
    let stderr = ''
    const status = await main(
      ['start', '--dir', dir, '--allow-no-snapshot', '--log-level', 'silent', '--listen', addr],
      {
        stdout: () => {},
        stderr: (t) => {
          stderr += t
        },
        isTty: false,
      },
    )
    expect(status).toBe(3)
    expect(stderr).toBe(
      `error [START_FAILED]: cannot listen on ${addr}: address already in use (EADDRINUSE)\n`,
    )
    noStack(stderr)
  })
})

describe('an operator API port the node cannot use', () => {
  it('fails the start with START_FAILED and gives back the libp2p port and the database', async () => {
    const { dir } = await initDataDir(join(root, 'node-api'))
    const spare = createServer()
    await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve))
    const port = (spare.address() as { port: number }).port
    await new Promise((resolve) => spare.close(resolve))
    const listen = [`/ip4/127.0.0.1/tcp/${port}`]
    const flags = { listen, allow_no_snapshot: true, 'api.port': String(busyPort) }
    const config = await loadConfig({ dir, env: {}, flags })
    const err = await startNode(config, { logger: createLogger('silent') }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'START_FAILED' })
    expect((err as Error).message).toContain('the operator API could not listen')
    // What had started is stopped again: the same node starts on the same libp2p port.
    const again = await startNode(
      await loadConfig({ dir, env: {}, flags: { listen, allow_no_snapshot: true } }),
      {
        logger: createLogger('silent'),
      },
    )
    await again.stop()
  })
})

describe('starting with --allow-no-snapshot and no snapshot', () => {
  it('warns with advice that does not repeat the flag already given', async () => {
    const { dir } = await initDataDir(join(root, 'node-c'))
    const lines: string[] = []
    const config = await loadConfig({ dir, env: {}, flags: { allow_no_snapshot: true } })
    const node = await startNode(config, { logger: createLogger('warn', (l) => lines.push(l)) })
    try {
      const warning = lines.map((l) => JSON.parse(l)).find((l) => l.msg.startsWith('starting without'))
      expect(warning).toBeDefined()
      expect(warning.reason).toContain(`no epoch snapshot at ${join(dir, 'snapshot.json')}`)
      expect(warning.reason).toContain('SIGHUP')
      expect(warning.reason).not.toContain('--allow-no-snapshot')
    } finally {
      await node.stop()
    }
  })

  it('still names the flag when it is not given (the refusal to start)', async () => {
    const { dir } = await initDataDir(join(root, 'node-d'))
    const config = await loadConfig({ dir, env: {} })
    const err = await startNode(config, { logger: createLogger('silent') }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'NO_SNAPSHOT' })
    expect((err as Error).message).toContain('or start with --allow-no-snapshot')
  })
})
