import type { Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { QfsError } from '../../src/core/errors.js'
import type { WireError } from '../../src/net/errors.js'
import { FrameStream } from '../../src/net/frame-stream.js'
import { encodeErrorFrame, encodeJsonFrame, frameBytes, MAX_FRAME_BYTES } from '../../src/net/frames.js'
import { sendWhole } from '../../src/net/send-content.js'

/**
 * What a writer sees of a libp2p stream whose peer takes nothing: every send fills the write buffer
 * and asks for 'drain'. The test plays the peer: its frames arrive as 'message' events, its reset
 * as a 'close' event with an error, in the order the test chooses (no wall clock involved).
 */
class StalledStream extends EventTarget {
  writeBuffer = new Uint8ArrayList()
  writableNeedsDrain = false
  maxReadBufferLength = 4 * 1024 * 1024
  readBufferLength = 0
  readableEnded = false
  status = 'open'
  writeStatus = 'writable'
  aborted: Error | undefined
  /** What `close` does: by default it waits for the signal, as a close behind unsent bytes does. */
  onClose: (signal?: AbortSignal) => Promise<void> = (signal) =>
    new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }))
  get writeBufferLength(): number {
    return this.writeBuffer.byteLength
  }
  send(data: Uint8Array | Uint8ArrayList): boolean {
    if (this.status !== 'open') throw new Error('stream is not open')
    this.writeBuffer.append(data)
    this.writableNeedsDrain = true
    return false
  }
  close(options?: { signal?: AbortSignal }): Promise<void> {
    return this.onClose(options?.signal)
  }
  abort(err: Error): void {
    this.aborted = err
    this.reset(err)
  }
  /** The peer's bytes arrive. */
  receive(bytes: Uint8Array): void {
    const evt = new Event('message') as Event & { data: Uint8Array }
    evt.data = bytes
    this.dispatchEvent(evt)
  }
  /** The stream is reset (by the peer, or by `abort`). */
  reset(err: Error): void {
    if (this.status !== 'open') return
    this.status = 'aborted'
    this.writeStatus = 'closed'
    const evt = new Event('close') as Event & { error: Error }
    evt.error = err
    this.dispatchEvent(evt)
  }
  pause(): void {}
  resume(): void {}
}

const refusal: WireError = {
  code: 'NODE_BUSY',
  error_code: 'SE_ERR_NO_ELIGIBLE_NODES',
  error_detail: 'too many writes',
}

function frameStream(stream: StalledStream): FrameStream {
  return new FrameStream(stream as unknown as Stream, { idleMs: 60_000, maxFrameBytes: MAX_FRAME_BYTES })
}

/** The error a promise rejects with (it must reject). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('resolved')
}

describe('FrameStream: what a failed write reports', () => {
  it("is the node's ERROR frame when the node refused and reset while the write waited for drain", async () => {
    const stream = new StalledStream()
    const fs = frameStream(stream)
    const write = fs.writeData(new Uint8Array(1000))
    stream.receive(frameBytes(encodeErrorFrame(refusal)))
    stream.reset(new Error('stream reset by the remote'))
    const err = await rejection(write)
    expect(err).toMatchObject({ code: 'NODE_BUSY', errorCode: 'SE_ERR_NO_ELIGIBLE_NODES' })
    fs.dispose()
  })

  it("is STREAM_ENDED when the caller aborted without a reason, not the drain wait's TIMEOUT", async () => {
    const stream = new StalledStream()
    const fs = frameStream(stream)
    const caller = new AbortController()
    const write = fs.writeData(new Uint8Array(1000), caller.signal)
    caller.abort()
    const err = await rejection(write)
    expect(err).toBeInstanceOf(QfsError)
    expect((err as QfsError).code).toBe('STREAM_ENDED')
    fs.dispose()
  })

  it('resets the stream when closing it fails', async () => {
    const stream = new StalledStream()
    stream.onClose = () => Promise.reject(new Error('the muxer refused to close'))
    const fs = frameStream(stream)
    await expect(fs.close()).rejects.toMatchObject({ code: 'STREAM_ENDED' })
    expect(stream.aborted).toBeDefined()
    expect(stream.status).toBe('aborted')
  })

  it('resets the stream when its close outlives the caller', async () => {
    const stream = new StalledStream()
    const fs = frameStream(stream)
    const caller = new AbortController()
    const closing = fs.close(caller.signal)
    caller.abort(new Error('the caller gave up'))
    await expect(closing).rejects.toMatchObject({ code: 'STREAM_ENDED' })
    expect(stream.aborted).toBeDefined()
  })
})

describe('FrameStream: keep-alives, the end of a call, and closing', () => {
  it('skips a keep-alive while the stream waits for drain, and sends one when it has room', () => {
    const stream = new StalledStream()
    const fs = frameStream(stream)
    stream.writableNeedsDrain = true
    expect(fs.sendKeepAlive()).toBe(false)
    expect(stream.writeBufferLength).toBe(0)
    stream.writableNeedsDrain = false
    expect(fs.sendKeepAlive()).toBe(true)
    expect(stream.writeBufferLength).toBeGreaterThan(0)
    fs.dispose()
  })

  it('resets a call answered before its request was complete, and only disposes one finished', () => {
    const open = new StalledStream()
    frameStream(open).done()
    expect(open.aborted).toBeDefined()
    const finished = new StalledStream()
    finished.writeStatus = 'closed'
    frameStream(finished).done()
    expect(finished.aborted).toBeUndefined()
  })

  it('whenClosed waits for a closing stream to close', async () => {
    const stream = new StalledStream()
    stream.status = 'closing'
    const fs = frameStream(stream)
    let closed = false
    const waiting = fs.whenClosed().then(() => {
      closed = true
    })
    await new Promise((r) => setImmediate(r))
    expect(closed).toBe(false)
    stream.dispatchEvent(new Event('close'))
    await waiting
    expect(closed).toBe(true)
  })
})

describe('sendWhole against a node that refuses before taking the content', () => {
  it('returns, leaving the refusal to be read, when the node answered and then reset', async () => {
    const stream = new StalledStream()
    const fs = frameStream(stream)
    let sent = false
    const sending = sendWhole(fs, encodeJsonFrame({ object_id: 'x' }), new Uint8Array(100), {}, () => {
      sent = true
    })
    const answer = { ok: false, code: 'NODE_BUSY', error_code: 'SE_ERR_NO_ELIGIBLE_NODES' }
    stream.receive(frameBytes(encodeJsonFrame(answer)))
    stream.reset(new Error('stream reset by the remote'))
    await expect(sending).resolves.toBeUndefined()
    expect(sent).toBe(true)
    expect(await fs.readJson()).toEqual(answer)
  })

  it('throws when the stream ended with no answer', async () => {
    const stream = new StalledStream()
    const fs = frameStream(stream)
    const sending = sendWhole(fs, encodeJsonFrame({ object_id: 'x' }), new Uint8Array(100), {}, () => {})
    stream.reset(new Error('stream reset by the remote'))
    await expect(sending).rejects.toMatchObject({ code: 'STREAM_ENDED' })
  })
})
