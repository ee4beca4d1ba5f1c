import type { Stream } from '@libp2p/interface'
import { streamPair } from '@libp2p/utils'
import { describe, expect, it } from 'vitest'
import { FrameStream } from '../../src/net/frame-stream.js'
import { MAX_FRAME_BYTES } from '../../src/net/frames.js'

/**
 * `done()` ends an exchange we started. It resets the stream only if our side was never finished
 * (the peer answered early); a close already under way has handed every byte and only waits to
 * send them and the end: resetting it would throw those bytes away. Real @libp2p/utils streams, so
 * 'closing' is the library's own state (close() waiting for the muxer to drain), not a stand-in.
 */
describe('FrameStream.done on a stream whose close is in progress', () => {
  it('leaves the close to finish: the peer receives every byte and a clean end, no reset', async () => {
    const [client, server] = await streamPair()
    let received = 0
    let resetBy: Error | undefined
    server.addEventListener('message', (evt) => {
      received += evt.data.byteLength
    })
    const peerEnded = new Promise<void>((resolve) =>
      server.addEventListener('remoteCloseWrite', () => resolve(), { once: true }),
    )
    server.addEventListener('close', (evt) => {
      resetBy = evt.error
    })
    const fs = new FrameStream(client as Stream, { idleMs: 60_000, maxFrameBytes: MAX_FRAME_BYTES })
    // Hand the stream bytes until it asks for drain, so its close has to wait for the muxer.
    const block = new Uint8Array(64 * 1024)
    let handed = block.byteLength
    while (client.send(block)) handed += block.byteLength
    const closing = fs.close()
    expect(client.writeStatus).toBe('closing')

    fs.done()

    await closing
    await peerEnded
    expect(received).toBe(handed)
    expect(resetBy).toBeUndefined()
    expect(client.status).not.toBe('aborted')
    expect(client.writeStatus).toBe('closed')
    await server.close()
  })

  it('still resets a stream whose writing end is open (the peer answered before the request was complete)', async () => {
    const [client, server] = await streamPair()
    const reset = new Promise<Error | undefined>((resolve) =>
      server.addEventListener('close', (evt) => resolve(evt.error), { once: true }),
    )
    const fs = new FrameStream(client as Stream, { idleMs: 60_000, maxFrameBytes: MAX_FRAME_BYTES })
    expect(client.writeStatus).toBe('writable')
    fs.done()
    expect(client.status).toBe('aborted')
    expect(await reset).toBeDefined()
  })
})
