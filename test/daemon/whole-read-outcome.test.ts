// docs/operations.md: qfs_requests_total{op="read_stream"} counts a read that fails after its header
// (READ_TOO_SLOW, a reset) as an error with the reason's code, never as ok. A read of up to 64 KiB
// reads its content before it sends anything (net/serve-public.ts), so its content must not reach
// its end, and count as served, before the one send went through.
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { InFlight, instrumentEngine } from '../../src/daemon/instrument.js'
import { NodeMetrics } from '../../src/daemon/metrics.js'
import type { StorageEngine } from '../../src/engine/engine.js'
import type { FrameStream } from '../../src/net/frame-stream.js'
import { PUBLIC_HANDLERS } from '../../src/net/serve-public.js'
import { oneReadPolicy } from '../net/one-read-policy.js'

const ID = 'ab'.repeat(32)

function engine(blocks: number, block: number) {
  return {
    readContent: async () => ({
      ok: true,
      object_id: ID,
      version: 1,
      kind: 'STORE',
      hash_commit: ID,
      content_size: blocks * block,
      metadata: {},
      record: {},
      storage_event_id: ID,
      content: (async function* () {
        for (let i = 0; i < blocks; i++) yield new Uint8Array(block)
      })(),
      proofs: [],
    }),
  } as unknown as StorageEngine
}

/** A client that takes nothing: every write waits until the exchange is aborted. */
function stuckClient() {
  const wait = (signal?: AbortSignal) =>
    new Promise<void>((_, reject) => {
      if (signal?.aborted === true) return reject(signal.reason)
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true })
    })
  return {
    readJson: async () => ({ object_id: ID }),
    holdInput: () => {},
    write: (_parts: Uint8Array[], signal?: AbortSignal) => wait(signal),
    writeJson: (_v: unknown, signal?: AbortSignal) => wait(signal),
    writeData: (_b: Uint8Array, signal?: AbortSignal) => wait(signal),
    abort: () => {},
  } as unknown as FrameStream
}

async function readStreamSamples(metrics: NodeMetrics) {
  const text = await metrics.registry.metrics()
  const get = (series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `))
    return line === undefined ? 0 : Number(line.slice(series.length + 1))
  }
  return {
    ok: get('qfs_requests_total{op="read_stream",outcome="ok"}'),
    error: get('qfs_requests_total{op="read_stream",outcome="error"}'),
    tooSlow: get('qfs_request_errors_total{op="read_stream",code="READ_TOO_SLOW"}'),
  }
}

describe('read_stream outcome of a small read whose send fails', () => {
  afterEach(() => vi.useRealTimers())

  for (const [name, blocks, block] of [
    ['streamed (over 64 KiB)', 70, 1_000],
    ['whole (up to 64 KiB)', 3, 1_000],
  ] as const) {
    it(`${name}: READ_TOO_SLOW is an error, never an ok`, async () => {
      vi.useFakeTimers()
      const metrics = new NodeMetrics(new Registry())
      const e = instrumentEngine(engine(blocks, block), { metrics, inflight: new InFlight() })
      const outcome = PUBLIC_HANDLERS.read!(
        e,
        { fs: stuckClient(), signal: new AbortController().signal },
        oneReadPolicy(),
      ).then(
        () => 'served',
        (err: unknown) => err,
      )
      await vi.advanceTimersByTimeAsync(5_000)
      expect(await outcome).toMatchObject({ code: 'READ_TOO_SLOW' })
      // The streamed read never opens its content (its header is not taken) and counts nothing;
      // the whole one read its content before the send failed, and counts that as the failure.
      const s = await readStreamSamples(metrics)
      expect(s.ok).toBe(0)
      if (blocks === 3) expect(s).toMatchObject({ error: 1, tooSlow: 1 })
    })
  }
})
