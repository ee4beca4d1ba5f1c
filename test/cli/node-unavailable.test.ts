import { createServer as createHttpServer } from 'node:http'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { unavailableReason } from '../../src/cli/commands/client-common.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { QfsClient } from '../../src/sdk/client.js'
import { failureCause } from '../../src/sdk/failures.js'
import { runCli } from './run.js'

/**
 * An unreachable node's answer says the same for every cause (walkthrough L6); the CLI's error line
 * adds the local cause, and a transport the client does not have is refused before any dial.
 */

const UNAVAILABLE = 'a node could not be reached or did not answer'
const OID = 'ab'.repeat(32)

/** A loopback port nothing listens on: the kernel handed it out, then it was closed. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Each client command aimed at `node`, with what it needs to reach the dial. */
function commands(node: string): string[][] {
  return [
    ['put', 'package.json', '--node', node, '--namespace', 'n', '--id', 'i'],
    ['get', OID, '--node', node, '-o', join(tmpdir(), 'qfs-never-written.bin')],
    ['proof', OID, '--version', '1', '--shard', OID, '--node', node],
    ['ls', '--node', node],
  ]
}

describe('client commands name why a node could not be reached', () => {
  // A libp2p node that speaks no QFS protocol: enough to answer a dial with its own peer id.
  let other: Libp2p
  let otherId: string
  let otherPort: number
  let namedId: string

  beforeAll(async () => {
    other = await createQfsLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    otherId = other.peerId.toString()
    otherPort = Number(
      other
        .getMultiaddrs()[0]!
        .getComponents()
        .find((c) => c.name === 'tcp')!.value,
    )
    namedId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  })
  afterAll(async () => {
    await other?.stop()
  })

  it('says which node answers when the /p2p/ id names another', async () => {
    const node = `/ip4/127.0.0.1/tcp/${otherPort}/p2p/${namedId}`
    for (const args of commands(node)) {
      const r = await runCli(args)
      expect(r.status).toBe(3)
      expect(r.stderr).toBe(
        `error [NODE_UNAVAILABLE]: ${UNAVAILABLE} (peer id mismatch: the node at that address is ${otherId}, not ${namedId})\n`,
      )
    }
  })

  it('says the connection was refused at a closed port, and --json output keeps the SDK answer', async () => {
    const node = `/ip4/127.0.0.1/tcp/${await closedPort()}/p2p/${namedId}`
    for (const args of commands(node)) {
      const r = await runCli(args)
      expect(r.status).toBe(3)
      expect(r.stderr).toBe(`error [NODE_UNAVAILABLE]: ${UNAVAILABLE} (connection refused)\n`)
    }
    // put prints its answer as JSON: the wire shape, with no local cause in it.
    const put = await runCli(commands(node)[0]!)
    expect(JSON.parse(put.stdout)).toEqual({
      ok: false,
      error_code: 'SE_ERR_INTERNAL',
      error_detail: UNAVAILABLE,
      code: 'NODE_UNAVAILABLE',
      storage_event_id: null,
    })
  })

  it('says a node that speaks no QFS protocol does not speak it', async () => {
    const r = await runCli(['ls', '--node', `/ip4/127.0.0.1/tcp/${otherPort}/p2p/${otherId}`])
    expect(r.status).toBe(3)
    expect(r.stderr).toBe(
      `error [NODE_UNAVAILABLE]: ${UNAVAILABLE} (the peer does not speak the QFS protocol)\n`,
    )
  })

  it('says that no libp2p node answers at an HTTP port (the operator API one port away, most often)', async () => {
    // What a node's operator API (fastify) does with bytes that are not HTTP: it answers 400.
    const http = createHttpServer((_req, res) => res.end('{}'))
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    const port = (http.address() as { port: number }).port
    try {
      for (const args of commands(`/ip4/127.0.0.1/tcp/${port}/p2p/${namedId}`)) {
        const r = await runCli(args)
        expect(r.status).toBe(3)
        expect(r.stderr).toBe(
          `error [NODE_UNAVAILABLE]: ${UNAVAILABLE} (no libp2p node answered at that address (the Noise handshake failed; is that the operator API port?))\n`,
        )
      }
    } finally {
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    }
  })

  it('says no answer in time for a node that takes the connection and says nothing (stopped, frozen), not an API port', async () => {
    // A SIGSTOPped node's kernel still accepts the connection; libp2p gives up its handshake after
    // its own timeout with an EncryptionFailedError that says only that it timed out.
    const held: Socket[] = []
    const silent = createServer((socket) => held.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as { port: number }).port
    const client = await QfsClient.create({
      node: `/ip4/127.0.0.1/tcp/${port}/p2p/${namedId}`,
      timeouts: { requestMs: 60_000 },
    })
    try {
      const answer = await client.listObjects()
      expect(answer).toMatchObject({ ok: false, code: 'NODE_UNAVAILABLE' })
      if (answer.ok) return
      expect(unavailableReason(failureCause(answer))).toBe('no answer in time')
    } finally {
      await client.close()
      for (const socket of held) socket.destroy()
      await new Promise<void>((resolve) => silent.close(() => resolve()))
    }
  }, 30_000)

  it('refuses a transport the client does not have before dialling (exit 2)', async () => {
    for (const addr of [
      `/ip4/127.0.0.1/udp/${otherPort}/quic-v1/p2p/${otherId}`,
      `/ip4/127.0.0.1/udp/${otherPort}/p2p/${otherId}`,
      `/ip4/127.0.0.1/tcp/${otherPort}/ws/p2p/${otherId}`,
      `/dns4/localhost/tcp/${otherPort}/tls/ws/p2p/${otherId}`,
      `/ip4/127.0.0.1/tcp/${otherPort}/p2p/${otherId}/p2p-circuit/p2p/${namedId}`,
    ]) {
      for (const args of commands(addr)) {
        const r = await runCli(args)
        expect(r.status).toBe(2)
        expect(r.stdout).toBe('')
        expect(r.stderr).toBe(
          `error [INVALID_ARGUMENT]: --node: ${addr}: only /tcp addresses are supported (/ip4, /ip6, /dns, /dns4 or /dns6, then /tcp/<port>, then /p2p/<peer id>)\n`,
        )
      }
    }
    // Every host kind with /tcp passes the check (then fails to connect, exit 3).
    const port = await closedPort()
    for (const host of [
      '/ip4/127.0.0.1',
      '/ip6/::1',
      '/dns/localhost',
      '/dns4/localhost',
      '/dns6/localhost',
    ]) {
      const r = await runCli(['ls', '--node', `${host}/tcp/${port}/p2p/${namedId}`])
      expect(r.status).toBe(3)
      expect(r.stderr).toMatch(/^error \[NODE_UNAVAILABLE\]: /)
    }
  })

  it('keeps the SDK answer in its wire shape, the cause held beside it', async () => {
    const client = await QfsClient.create({ node: `/ip4/127.0.0.1/tcp/${await closedPort()}/p2p/${namedId}` })
    try {
      const answer = await client.listObjects({})
      expect(answer).toEqual({
        ok: false,
        error_code: 'SE_ERR_INTERNAL',
        error_detail: UNAVAILABLE,
        code: 'NODE_UNAVAILABLE',
        storage_event_id: null,
      })
      expect(Object.keys(answer).sort()).toEqual([
        'code',
        'error_code',
        'error_detail',
        'ok',
        'storage_event_id',
      ])
      if (answer.ok) throw new Error('unreachable')
      expect(failureCause(answer)).toBeInstanceOf(NodeUnavailableError)
      expect(JSON.stringify(answer)).not.toContain('ECONNREFUSED')
    } finally {
      await client.close()
    }
  })
})

describe('unavailableReason', () => {
  const errno = (code: string, extra: Record<string, unknown> = {}) =>
    Object.assign(new Error(`connect ${code}`), { code, syscall: 'connect', ...extra })
  const wrapped = (inner: unknown) => new NodeUnavailableError('cannot open /qfs/x to y', { cause: inner })

  it('finds the cause however deep, inside AggregateErrors too', () => {
    const deep = wrapped(new AggregateError([new Error('first'), errno('ECONNREFUSED')], 'all dials failed'))
    expect(unavailableReason(deep)).toBe('connection refused')
    expect(unavailableReason(wrapped(errno('EHOSTUNREACH')))).toBe('host unreachable')
    expect(unavailableReason(wrapped(errno('ENOTFOUND', { hostname: 'nowhere.invalid' })))).toBe(
      'host name not found: nowhere.invalid',
    )
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError')
    expect(unavailableReason(wrapped(timeout))).toBe('no answer in time')
  })

  it('prefers a peer id mismatch to anything else in the chain', () => {
    const mismatch = Object.assign(
      new Error('Payload identity key 12D3KooWA does not match expected remote identity key 12D3KooWB'),
      { name: 'EncryptionFailedError' },
    )
    expect(unavailableReason(wrapped(new AggregateError([errno('ECONNREFUSED'), mismatch])))).toBe(
      'peer id mismatch: the node at that address is 12D3KooWA, not 12D3KooWB',
    )
  })

  it('names the innermost error when no cause is known, and ends on a cycle', () => {
    const odd = Object.assign(new Error('no muxer configured'), { name: 'MuxerUnavailableError' })
    expect(unavailableReason(wrapped(odd))).toBe('MuxerUnavailableError: no muxer configured')
    expect(unavailableReason(wrapped(errno('EADDRNOTAVAIL')))).toBe('EADDRNOTAVAIL: connect EADDRNOTAVAIL')
    const a = new Error('a') as Error & { cause?: unknown }
    const b = new Error('b', { cause: a })
    a.cause = b
    expect(unavailableReason(a)).toBe('Error: b')
    expect(unavailableReason(undefined)).toBeUndefined()
    expect(unavailableReason('not an error')).toBeUndefined()
  })
})
