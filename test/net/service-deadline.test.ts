import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { Connection, Stream, StreamHandler } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { streamPair } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import type { NodeService } from '../../src/engine/node-service.js'
import { FrameStream } from '../../src/net/frame-stream.js'
import type { Frame } from '../../src/net/frames.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { type Registrar, storageProtocol } from '../../src/net/service.js'

// A small replica exchange (replica/record here) is bounded by one deadline, the request timeout,
// not only by the idle timeout between frames: that alone would let an eligible peer hold the
// stream for as long as it keeps trickling bytes.

describe('a small replica exchange at the server', () => {
  it('ends at the request timeout, before the idle timeout, with an ERROR frame (TIMEOUT)', async () => {
    const peer = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(3)))
    const handlers = new Map<string, StreamHandler>()
    const registrar: Registrar = {
      handle: async (protocol, handler) => void handlers.set(protocol, handler),
      unhandle: async (protocol) => void handlers.delete(protocol),
    }
    const service = storageProtocol({
      node: {} as NodeService,
      isEligiblePeer: () => true,
      limits: { idleTimeoutMs: 10_000, requestTimeoutMs: 300 },
    })({ registrar })
    await service.start()
    const [client, server] = await streamPair()
    const started = Date.now()
    const handled = handlers.get(PROTOCOLS.replicaRecord)!(
      server as Stream,
      { remotePeer: peer, remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/1') } as Connection,
    )
    // The peer says nothing and keeps its end open.
    const fs = new FrameStream(client, { maxFrameBytes: 1_048_577, idleMs: 10_000 })
    const first: Frame | string = await Promise.race([
      fs.read(),
      new Promise<string>((r) => setTimeout(() => r('nothing within 3 s'), 3_000)),
    ])
    expect(first).toMatchObject({ type: 'error', error: { code: 'TIMEOUT' } })
    expect(Date.now() - started).toBeLessThan(3_000)
    fs.abort(new Error('test over'))
    await handled
    await service.stop()
  })
})
