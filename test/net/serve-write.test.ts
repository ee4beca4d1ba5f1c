import { afterEach, describe, expect, it, vi } from 'vitest'
import type { StorageEngine } from '../../src/engine/engine.js'
import type { FrameStream } from '../../src/net/frame-stream.js'
import type { Frame } from '../../src/net/frames.js'
import { PUBLIC_HANDLERS } from '../../src/net/serve-public.js'
import { WriteAdmission } from '../../src/net/write-admission.js'
import { oneReadPolicy } from './one-read-policy.js'

const ID = 'ab'.repeat(32)

/** A writer as the server's FrameStream sees it: each frame of `frames` comes `everyMs` after the last. */
function writer(frames: Frame[], everyMs: number, request: object = { content_size: 5_000 }) {
  let next = 0
  const fs = {
    readJson: async () => ({ object_id: ID, version: 1, metadata: {}, ...request }),
    read: (signal: AbortSignal) =>
      new Promise<Frame>((resolve, reject) => {
        if (signal.aborted) return reject(signal.reason)
        if (next >= frames.length) return signal.addEventListener('abort', () => reject(signal.reason))
        const timer = setTimeout(() => resolve(frames[next++]!), everyMs)
        signal.addEventListener('abort', () => {
          clearTimeout(timer)
          reject(signal.reason)
        })
      }),
    writeJson: async () => {},
  } as unknown as FrameStream
  return fs
}

/** An engine that takes a put's content to its end, then answers how many bytes it took. */
const engine = {
  deleteContent: async () => ({ ok: true }),
  putContent: async (_id: string, _v: number, content: { chunks: AsyncIterable<Uint8Array> }) => {
    let bytes = 0
    for await (const chunk of content.chunks) bytes += chunk.length
    return { ok: true, bytes }
  },
} as unknown as StorageEngine

/** One write slot: 1 s of grace, then 1000 bytes per second of waiting. */
const oneWriteSlot = () =>
  new WriteAdmission(
    { maxConcurrentWrites: 1, writeMinDeadlineMs: 1_000, writeMinBytesPerSecond: 1_000 },
    () => Date.now(),
  )

type Policy = Parameters<NonNullable<(typeof PUBLIC_HANDLERS)['write']>>[2]

/** serveWrite of `fs` under `policy`: 'served', or the error it ended with. */
const serve = (fs: FrameStream, policy: Policy): Promise<unknown> =>
  PUBLIC_HANDLERS.write!(engine, { fs, signal: new AbortController().signal, source: 'a' }, policy).then(
    () => 'served',
    (err: unknown) => err,
  )

afterEach(() => {
  vi.useRealTimers()
})

describe('serveWrite under the write rule (docs/protocol.md 4.2)', () => {
  it('earns a write allowance for every byte its client delivers: a client at the minimum rate keeps going', async () => {
    vi.useFakeTimers()
    // The client sends 1000 bytes every 900 ms.
    const writes = oneWriteSlot()
    const data: Frame = { type: 'data', chunks: [new Uint8Array(1_000)] } as Frame
    const fs = writer([data, data, data, data, data, { type: 'end' } as Frame], 900)
    const served = serve(fs, { ...oneReadPolicy(), maxContentBytes: 5_000, writes })
    await vi.advanceTimersByTimeAsync(6 * 900)
    expect(await served).toBe('served')
    expect(writes.activeWrites).toBe(0)
  })

  it("times a delete marker's wait for its END like content: a client that never sends it loses its slot", async () => {
    vi.useFakeTimers()
    const writes = oneWriteSlot()
    const fs = writer([], 0, { content_size: 0, kind: 'DELETE_MARKER' })
    const served = serve(fs, { ...oneReadPolicy(), writes })
    await vi.advanceTimersByTimeAsync(1_000)
    expect(await served).toMatchObject({ code: 'WRITE_TOO_SLOW' })
    expect(writes.activeWrites).toBe(0)
  })
})
