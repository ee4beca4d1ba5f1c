import type { Stream } from '@libp2p/interface'
import { describe, expect, it, vi } from 'vitest'
import { FrameStream } from '../../src/net/frame-stream.js'
import { encodeJsonFrame, encodeKeepAliveFrame, frameBytes, MAX_FRAME_BYTES } from '../../src/net/frames.js'

/** The receiving side of a stream as a FrameStream sees it: 'message' events carry the peer's bytes. */
class InboundStream extends EventTarget {
  maxReadBufferLength = 4 * 1024 * 1024
  readBufferLength = 0
  readableEnded = false
  status = 'open'
  pause(): void {}
  resume(): void {}
  deliver(bytes: Uint8Array): void {
    this.dispatchEvent(Object.assign(new Event('message'), { data: bytes }))
  }
}

// Real time, short: the reader takes its clock from node:perf_hooks, which fake timers do not replace.
const IDLE_MS = 600
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function reader(acceptKeepAlive = false): { stream: InboundStream; fs: FrameStream } {
  const stream = new InboundStream()
  const fs = new FrameStream(stream as unknown as Stream, {
    idleMs: IDLE_MS,
    maxFrameBytes: MAX_FRAME_BYTES,
    acceptKeepAlive,
  })
  return { stream, fs }
}

/** A settled-or-not view of a promise, checked after time moves. */
function watch<T>(p: Promise<T>): { state: () => 'pending' | 'resolved' | 'rejected'; error: () => unknown } {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending'
  let error: unknown
  p.then(
    () => {
      state = 'resolved'
    },
    (err: unknown) => {
      state = 'rejected'
      error = err
    },
  )
  return { state: () => state, error: () => error }
}

describe('the idle wait of a frame stream: a whole period for each frame from its first byte', () => {
  it('times out a peer that trickles one frame a byte at a time, each byte within the idle timeout', async () => {
    const { stream, fs } = reader()
    const frame = frameBytes(encodeJsonFrame({ answer: 'x'.repeat(64) }))
    const read = watch(fs.read())
    // A byte every half idle period: each one restarted the whole wait before.
    for (let i = 0; i < frame.length - 1 && read.state() === 'pending'; i++) {
      stream.deliver(frame.subarray(i, i + 1))
      await sleep(IDLE_MS / 2)
    }
    expect(read.state()).toBe('rejected')
    expect(read.error()).toMatchObject({ code: 'TIMEOUT' })
    fs.dispose()
  })

  it('still waits the whole idle period for a frame sent in pieces within it', async () => {
    const { stream, fs } = reader()
    const frame = frameBytes(encodeJsonFrame({ answer: 'y' }))
    const read = watch(fs.read())
    await sleep(IDLE_MS / 2)
    stream.deliver(frame.subarray(0, 3))
    await sleep(IDLE_MS / 4)
    stream.deliver(frame.subarray(3))
    await sleep(0)
    expect(read.state()).toBe('resolved')
    fs.dispose()
  })

  it('gives a frame that begins late in the wait a whole idle period from its first byte', async () => {
    const { stream, fs } = reader()
    const frame = frameBytes(encodeJsonFrame({ answer: 'z'.repeat(64) }))
    const read = watch(fs.read())
    // A sender pausing before a frame (a coordinator between keep-alives) leaves it time to arrive.
    await sleep(IDLE_MS * 0.7)
    stream.deliver(frame.subarray(0, 1))
    await sleep(IDLE_MS * 0.6)
    stream.deliver(frame.subarray(1))
    await sleep(0)
    expect(read.state()).toBe('resolved')
    fs.dispose()
  })

  it('counts the wait from the read, not from a frame received long before it', async () => {
    const { stream, fs } = reader()
    stream.deliver(frameBytes(encodeJsonFrame({ n: 1 })))
    await fs.read()
    // The consumer was busy for one and a half idle periods; the peer is not at fault for that.
    await sleep(1.5 * IDLE_MS)
    const read = watch(fs.read())
    await sleep(IDLE_MS / 2)
    stream.deliver(frameBytes(encodeJsonFrame({ n: 2 })))
    await sleep(0)
    expect(read.state()).toBe('resolved')
    fs.dispose()
  })

  it('lets keep-alives restart the wait, as a whole frame does', async () => {
    const { stream, fs } = reader(true)
    // Keep-alives may follow only once the stream said what it is (its first frame).
    stream.deliver(frameBytes(encodeJsonFrame({ request: 'push' })))
    await fs.read()
    const read = watch(fs.read())
    const keepAlive = encodeKeepAliveFrame()[0]!
    for (let i = 0; i < 5; i++) {
      await sleep(IDLE_MS / 2)
      stream.deliver(keepAlive)
    }
    expect(read.state()).toBe('pending')
    stream.deliver(frameBytes(encodeJsonFrame({ done: true })))
    await sleep(0)
    expect(read.state()).toBe('resolved')
    fs.dispose()
  })
})

describe('framing errors and keep-alive floods at the reader (docs/protocol.md 2, 4.6)', () => {
  const keepAlives = (n: number) => Uint8Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? 0x01 : 0x05))
  const request = frameBytes(encodeJsonFrame({ request: 1 }))

  it('takes 64 keep-alives within a second and fails the stream FRAME_INVALID at the 65th', async () => {
    for (const [count, failed] of [
      [64, false],
      [65, true],
    ] as const) {
      const { stream, fs } = reader(true)
      stream.deliver(Uint8Array.from([...request, ...keepAlives(count)]))
      expect(await fs.read()).toMatchObject({ type: 'json', value: { request: 1 } })
      const next = watch(fs.read())
      // A refusal is waited for (a loaded machine may take a while); quiet is judged after 50 ms.
      if (failed) await vi.waitFor(() => expect(next.state()).not.toBe('pending'), { timeout: 2000 })
      else await sleep(50)
      expect(next.state(), `${count} keep-alives`).toBe(failed ? 'rejected' : 'pending')
      if (failed) expect(next.error()).toMatchObject({ code: 'FRAME_INVALID' })
      stream.dispatchEvent(new Event('close'))
      await sleep(0)
    }
  })

  it('reports a framing error that arrives in the same chunk as whole frames, after them', async () => {
    const { stream, fs } = reader()
    stream.deliver(Uint8Array.from([...request, 0x01, 0x09]))
    expect(await fs.read()).toMatchObject({ type: 'json', value: { request: 1 } })
    const next = watch(fs.read())
    await vi.waitFor(() => expect(next.state()).not.toBe('pending'), { timeout: 2000 })
    expect(next.state()).toBe('rejected')
    expect(next.error()).toMatchObject({ code: 'UNKNOWN_MESSAGE' })
  })
})
