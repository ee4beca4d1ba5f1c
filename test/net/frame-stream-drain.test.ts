import type { Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { FrameStream } from '../../src/net/frame-stream.js'
import { MAX_FRAME_BYTES } from '../../src/net/frames.js'

/**
 * The part of a libp2p stream a writer sees: `send` appends to a write buffer that a muxer empties
 * as its window allows. Like @libp2p/utils' streams, it fires 'drain' whenever the muxer takes some
 * bytes (a window update, however small) and 'idle' once the buffer is empty.
 */
class MuxedStream extends EventTarget {
  writeBuffer = new Uint8ArrayList()
  writableNeedsDrain = false
  maxReadBufferLength = 4 * 1024 * 1024
  readBufferLength = 0
  readableEnded = false
  status = 'open'
  get writeBufferLength(): number {
    return this.writeBuffer.byteLength
  }
  send(data: Uint8Array | Uint8ArrayList): boolean {
    this.writeBuffer.append(data)
    this.writableNeedsDrain = true
    return false
  }
  /** The peer grants `bytes` of window: the muxer takes that much, and the stream says 'drain'. */
  grant(bytes: number): void {
    this.writeBuffer.consume(Math.min(bytes, this.writeBuffer.byteLength))
    this.writableNeedsDrain = this.writeBuffer.byteLength > 0
    this.dispatchEvent(new Event('drain'))
    if (this.writeBuffer.byteLength === 0) this.dispatchEvent(new Event('idle'))
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0))

describe('FrameStream.write against a peer that grants little window', () => {
  it('returns only once the stream sent what it was handed, not at the first drain', async () => {
    const stream = new MuxedStream()
    const fs = new FrameStream(stream as unknown as Stream, {
      idleMs: 10_000,
      maxFrameBytes: MAX_FRAME_BYTES,
    })
    let done = false
    const write = fs.writeData(new Uint8Array(256 * 1024)).then(() => {
      done = true
    })
    // Window updates of 13 bytes: each fires 'drain', none empties the buffer.
    for (let i = 0; i < 20; i++) {
      stream.grant(13)
      await tick()
      expect(done).toBe(false)
    }
    // The writer waited: the stream holds one frame, not one per window update.
    expect(stream.writeBufferLength).toBeLessThanOrEqual(256 * 1024 + 8)
    stream.grant(Number.MAX_SAFE_INTEGER)
    await write
    expect(done).toBe(true)
    fs.dispose()
  })

  it('fails with TIMEOUT when the peer never takes the frame within the idle timeout', async () => {
    const stream = new MuxedStream()
    const fs = new FrameStream(stream as unknown as Stream, { idleMs: 200, maxFrameBytes: MAX_FRAME_BYTES })
    const write = fs.writeData(new Uint8Array(1024))
    const trickle = setInterval(() => stream.grant(1), 20)
    try {
      await expect(write).rejects.toMatchObject({ code: 'TIMEOUT' })
    } finally {
      clearInterval(trickle)
      fs.dispose()
    }
  })
})
