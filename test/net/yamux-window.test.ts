import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p, Stream } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { type PatchableStream, patchMuxer, patchStream } from '../../src/net/yamux-window.js'

const PROTOCOL = '/qfs-test/yamux-window/1'
const WINDOW = 256 * 1024

/** What the yamux stream under a libp2p stream knows of its send window (the library's own field). */
const sendWindow = (stream: Stream) =>
  (stream as unknown as { sendWindowCapacity: number }).sendWindowCapacity

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5))
}

describe('yamux receive window (net/yamux-window.ts)', () => {
  let a: Libp2p
  let b: Libp2p
  let received = 0

  beforeAll(async () => {
    a = await createQfsLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    b = await createQfsLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    // Echoes every byte back once it is read.
    await b.handle(PROTOCOL, async (stream) => {
      for await (const chunk of stream) {
        received += chunk.byteLength
        if (!stream.send(chunk)) await new Promise((r) => stream.addEventListener('drain', r, { once: true }))
      }
      await stream.close()
    })
  })
  afterAll(async () => {
    await a?.stop()
    await b?.stop()
  })

  it('grants window once half of it is used, not after every frame', async () => {
    received = 0
    const stream = await a.dialProtocol(b.getMultiaddrs()[0]!, PROTOCOL)
    const echoed: number[] = []
    const reading = (async () => {
      for await (const chunk of stream) echoed.push(chunk.byteLength)
    })()
    for (let i = 0; i < 10; i++) stream.send(new Uint8Array(1000))
    // Once b's echo is back, any update b sent on reading is back too (frames keep their order).
    const sum = () => echoed.reduce((x, y) => x + y, 0)
    await until(() => sum() === 10_000)
    // b read 10 KB: no update was owed, so a's window is what it was less what it sent.
    expect(sendWindow(stream)).toBe(WINDOW - 10_000)
    // Past half the window, b grants what was used.
    for (let i = 0; i < 130; i++) stream.send(new Uint8Array(1000))
    await until(() => sum() === 140_000)
    expect(sendWindow(stream)).toBeGreaterThanOrEqual(WINDOW)
    await stream.close()
    await reading
    expect(sum()).toBe(140_000)
  })

  it('grants window once exactly half of it is used', async () => {
    received = 0
    const stream = await a.dialProtocol(b.getMultiaddrs()[0]!, PROTOCOL)
    let echoed = 0
    const reading = (async () => {
      for await (const chunk of stream) echoed += chunk.byteLength
    })()
    // One send of half the window: one yamux frame, after which b holds exactly half its window.
    stream.send(new Uint8Array(WINDOW / 2))
    await until(() => echoed === WINDOW / 2)
    expect(sendWindow(stream)).toBeGreaterThanOrEqual(WINDOW)
    await stream.close()
    await reading
  })

  it('leaves a stream of another shape as the library made it', () => {
    const update = () => {}
    for (const stream of [
      { recvWindowCapacity: 10, sendWindowUpdate: update },
      { recvWindow: 10, sendWindowUpdate: update },
      { recvWindow: '10', recvWindowCapacity: 10, sendWindowUpdate: update },
    ] as PatchableStream[]) {
      patchStream(stream)
      expect(stream.sendWindowUpdate).toBe(update)
    }
    const muxer = { createStream: () => {} }
    expect(patchMuxer(muxer)).toEqual({ createStream: muxer.createStream })
    const shaped: PatchableStream = { recvWindow: 10, recvWindowCapacity: 10, sendWindowUpdate: update }
    patchStream(shaped)
    expect(shaped.sendWindowUpdate).not.toBe(update)
  })

  it('moves many windows of bytes each way on one stream', async () => {
    received = 0
    const stream = await a.dialProtocol(b.getMultiaddrs()[0]!, PROTOCOL)
    const total = 6 * 1024 * 1024
    let echoed = 0
    const reading = (async () => {
      for await (const chunk of stream) echoed += chunk.byteLength
    })()
    const chunk = new Uint8Array(60_000).fill(7)
    for (let sent = 0; sent < total; sent += chunk.length) {
      const piece = chunk.subarray(0, Math.min(chunk.length, total - sent))
      if (!stream.send(piece)) await new Promise((r) => stream.addEventListener('drain', r, { once: true }))
    }
    await stream.close()
    await reading
    expect(received).toBe(total)
    expect(echoed).toBe(total)
  })
})
