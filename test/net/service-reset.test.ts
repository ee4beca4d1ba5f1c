import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { Connection, Stream } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { streamPair } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import type { StorageEngine } from '../../src/engine/engine.js'
import type { NodeService } from '../../src/engine/node-service.js'
import { encodeJsonFrame, frameBytes } from '../../src/net/frames.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { storageProtocol } from '../../src/net/service.js'
import { capturingRegistrar } from './registrar.js'

async function served(engine: StorageEngine) {
  const peer = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(3)))
  const { registrar, handlers } = capturingRegistrar()
  const failed: string[] = []
  const service = storageProtocol({
    node: {} as NodeService,
    engine,
    isEligiblePeer: () => false,
    limits: { idleTimeoutMs: 5_000, requestTimeoutMs: 5_000 },
    onExchangeFailed: (protocol, code) => failed.push(`${protocol} ${code}`),
  })({ registrar })
  await service.start()
  return { handlers, failed, peer }
}

/**
 * A client that resets its stream while the node works on its request is counted as STREAM_ENDED,
 * the peer's doing, never as TIMEOUT (the node's metrics tell the two apart: docs/operations.md).
 */
describe('a public exchange reset by its client', () => {
  it('is reported to the failure counter as STREAM_ENDED, not TIMEOUT', async () => {
    let asked!: () => void
    const listing = new Promise<void>((resolve) => {
      asked = resolve
    })
    // An engine whose listing runs until its signal aborts, and fails with the signal's reason.
    const engine = {
      listObjects: (_filters: unknown, options: { signal: AbortSignal }) =>
        new Promise((_, reject) => {
          asked()
          options.signal.addEventListener('abort', () => reject(options.signal.reason), { once: true })
        }),
    } as unknown as StorageEngine
    const { handlers, failed, peer } = await served(engine)
    const [client, server] = await streamPair()
    const handled = handlers.get(PROTOCOLS.listObjects)!(
      server as Stream,
      { remotePeer: peer, remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/1') } as Connection,
    )
    client.send(frameBytes(encodeJsonFrame({})))
    await listing
    client.abort(new Error('the client went away'))
    await handled
    expect(failed).toEqual(['listObjects STREAM_ENDED'])
  })
})
