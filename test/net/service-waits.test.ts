import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { Connection, Stream } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { streamPair } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { StorageEngine } from '../../src/engine/engine.js'
import type { NodeService } from '../../src/engine/node-service.js'
import { type Limits, PROTOCOLS } from '../../src/net/protocols.js'
import { storageProtocol } from '../../src/net/service.js'
import { capturingRegistrar } from './registrar.js'

/**
 * How long a node's service waits on a stream, on fake timers (the figures are docs/protocol.md's,
 * so a test at a figure's edge is exact, not a wall-clock race): the replica channel's server
 * waits four idle timeouts for the next request, and a stream refused before its request is
 * reset at once when the refusal is NODE_BUSY for too many streams waiting, or given 1 s otherwise.
 */
async function served(limits: Partial<Limits>) {
  const peer = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(7)))
  const { registrar, handlers } = capturingRegistrar()
  const failed: string[] = []
  const service = storageProtocol({
    node: {} as NodeService,
    engine: {} as StorageEngine,
    isEligiblePeer: () => true,
    limits,
    onExchangeFailed: (protocol, code) => failed.push(`${protocol} ${code}`),
  })({ registrar })
  await service.start()
  const connection = { remotePeer: peer, remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/1') } as Connection
  /**
   * `count` streams of `protocol` opened to the service by the fake peer (client ends the test's),
   * served from fake timers on: the pairs' own setup waits on real ones.
   */
  const open = async (protocol: string, count = 1) => {
    const pairs = await Promise.all(Array.from({ length: count }, () => streamPair()))
    vi.useFakeTimers()
    return pairs.map(([client, server]) => {
      let resetBy: Error | undefined
      client.addEventListener('close', (evt) => {
        resetBy = evt.error
      })
      const handled = handlers.get(protocol)!(server as Stream, connection)
      return { client, handled, reset: () => resetBy }
    })
  }
  return { open, failed }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('the replica channel server', () => {
  it('waits four idle timeouts for the next request, longer than the client keeps a quiet channel (one)', async () => {
    const idle = 1_000
    const { open, failed } = await served({ idleTimeoutMs: idle, requestTimeoutMs: idle })
    const [rpc] = await open(PROTOCOLS.replicaRpc)
    // Twice the client's own idle close: a client that sends now still finds the channel open.
    await vi.advanceTimersByTimeAsync(2 * idle)
    expect(failed).toEqual([])
    expect(rpc!.client.status).toBe('open')
    await vi.advanceTimersByTimeAsync(2 * idle - 10)
    expect(failed).toEqual([])
    await vi.advanceTimersByTimeAsync(20)
    expect(failed).toEqual(['replicaRpc TIMEOUT'])
    rpc!.client.abort(new Error('test over'))
    await vi.runAllTimersAsync()
    await rpc!.handled
  })
})

describe('a public stream refused before its request', () => {
  const idle = 30_000

  it('is reset at once when too many streams already wait for their request (NODE_BUSY)', async () => {
    const { open, failed } = await served({
      idleTimeoutMs: idle,
      requestTimeoutMs: idle,
      maxStreamsAwaitingRequest: 1,
    })
    const [waiting, refused] = await open(PROTOCOLS.listObjects, 2)
    // A tenth of the 1 s drain other refusals get: the client never closes its end, so only the
    // node's own reset ends the stream this early.
    await vi.advanceTimersByTimeAsync(100)
    expect(failed).toEqual(['listObjects NODE_BUSY'])
    expect(refused!.client.status).not.toBe('open')
    expect(refused!.reset()).toBeDefined()
    // The stream that was waiting first is left alone.
    expect(waiting!.client.status).toBe('open')
    await refused!.handled
    waiting!.client.abort(new Error('test over'))
    await vi.runAllTimersAsync()
    await waiting!.handled
  })

  it('is given 1 s to read the refusal when its request was malformed', async () => {
    const { open, failed } = await served({ idleTimeoutMs: idle, requestTimeoutMs: idle })
    const [refused] = await open(PROTOCOLS.listObjects)
    // A frame of a type no protocol has: refused before any request was accepted.
    refused!.client.send(Uint8Array.of(1, 0x7f))
    await vi.advanceTimersByTimeAsync(900)
    expect(failed).toHaveLength(1)
    expect(refused!.reset()).toBeUndefined()
    expect(refused!.client.status).toBe('open')
    await vi.advanceTimersByTimeAsync(200)
    expect(refused!.reset()).toBeDefined()
    await refused!.handled
  })
})
