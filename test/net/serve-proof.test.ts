import { describe, expect, it, vi } from 'vitest'
import type { StorageEngine } from '../../src/engine/engine.js'
import { StreamTimeoutError } from '../../src/net/errors.js'
import type { FrameStream } from '../../src/net/frame-stream.js'
import { ProofAdmission } from '../../src/net/proof-admission.js'
import { DEFAULT_LIMITS } from '../../src/net/protocols.js'
import { PUBLIC_HANDLERS, type PublicPolicy } from '../../src/net/serve-public.js'
import { oneReadPolicy } from './one-read-policy.js'

const ID = 'ab'.repeat(32)
/** A proof answer as large as one at the default block size: a 256 KiB block in base64. */
const BLOCK_B64 = 'A'.repeat(349_528)

/** A client as the server's FrameStream sees it: it takes its answer when `take` resolves, or never. */
function client(take: Promise<void> | undefined) {
  const seen = { answerBytes: 0, reset: undefined as Error | undefined }
  const fs = {
    readJson: async () => ({ object_id: ID, version: 1, shard_id: ID, leaf_index: 0 }),
    holdInput: () => {},
    write: (parts: Uint8Array[], signal?: AbortSignal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted === true) return reject(signal.reason)
        signal?.addEventListener('abort', () => reject(signal.reason))
        void take?.then(() => {
          for (const part of parts) seen.answerBytes += part.length
          resolve()
        })
      }),
    abort: (err: Error) => {
      seen.reset = err
    },
  } as unknown as FrameStream
  return { fs, seen }
}

/** An engine whose proofs wait for `gate` (when given), counting the proofs it started. */
function engine(gate?: Promise<void>) {
  const calls = { started: 0 }
  const stub = {
    getStorageProof: async () => {
      calls.started++
      await gate
      return { ok: true, object_id: ID, version: 1, shard_id: ID, proof: { block: BLOCK_B64 } }
    },
  } as unknown as StorageEngine
  return { stub, calls }
}

/** One get_proof exchange; `ends` aborts it as the idle timeout of a real stream would. */
function serve(e: StorageEngine, fs: FrameStream, p: PublicPolicy, ends?: AbortSignal): Promise<unknown> {
  return PUBLIC_HANDLERS.getProof!(e, { fs, signal: ends ?? new AbortController().signal }, p).then(
    () => 'served',
    (err: unknown) => err,
  )
}

describe('get_proof under its slots (docs/protocol.md 4.4)', () => {
  it('caps get_proofs at once by default', () => {
    expect(DEFAULT_LIMITS.maxConcurrentProofs).toBe(16)
  })

  it('lets one address hold at most half of the proof slots, while others are free', () => {
    const proofs = new ProofAdmission(
      { maxConcurrentProofs: 5, readMinDeadlineMs: 60_000, readMinBytesPerSecond: 1_000 },
      () => Date.now(),
    )
    const open = () => new AbortController().signal
    const held = [0, 1, 2].map(() => proofs.admit(open(), '10.0.0.1'))
    expect(() => proofs.admit(open(), '10.0.0.1')).toThrow(
      expect.objectContaining({ code: 'NODE_BUSY', message: expect.stringContaining('at most 3') }),
    )
    held.push(proofs.admit(open(), '10.0.0.2'))
    expect(proofs.activeProofs).toBe(4)
    for (const p of held) p.release()
  })

  it('refuses one more than maxConcurrentProofs with NODE_BUSY before the engine runs, and admits again once one ends', async () => {
    const p = oneReadPolicy()
    let open!: () => void
    const gate = new Promise<void>((resolve) => {
      open = resolve
    })
    const { stub, calls } = engine(gate)
    const first = serve(stub, client(Promise.resolve()).fs, p)
    await vi.waitFor(() => expect(calls.started).toBe(1))
    expect(await serve(stub, client(Promise.resolve()).fs, p)).toMatchObject({ code: 'NODE_BUSY' })
    expect(calls.started).toBe(1)
    open()
    expect(await first).toBe('served')
    expect(p.proofs.activeProofs).toBe(0)
    const { fs, seen } = client(Promise.resolve())
    expect(await serve(stub, fs, p)).toBe('served')
    expect(seen.answerBytes).toBeGreaterThan(BLOCK_B64.length)
  })

  it('resets the stream of a client that never takes its answer, and frees the slot with it', async () => {
    const p = oneReadPolicy()
    const { stub } = engine()
    const { fs, seen } = client(undefined)
    const exchange = new AbortController()
    const outcome = serve(stub, fs, p, exchange.signal)
    await vi.waitFor(() => expect(p.proofs.activeProofs).toBe(1))
    exchange.abort(new StreamTimeoutError('peer took no data for 30000 ms'))
    expect(await outcome).toMatchObject({ code: 'TIMEOUT' })
    // Reset now, not after the ERROR frame's drain: the unsent answer goes with the slot.
    expect(seen.reset).toMatchObject({ code: 'TIMEOUT' })
    expect(p.proofs.activeProofs).toBe(0)
  })

  it('gives the slot of an address whose clients leave their answers untaken to a client from another address', async () => {
    vi.useFakeTimers()
    try {
      const p = {
        ...oneReadPolicy(),
        proofs: new ProofAdmission(
          { maxConcurrentProofs: 4, readMinDeadlineMs: 60_000, readMinBytesPerSecond: 1_000 },
          () => Date.now(),
        ),
      }
      const { stub } = engine()
      // Two addresses, each holding its share (2 of 4): every slot is taken.
      const hog = [client(undefined), client(undefined), client(undefined), client(undefined)]
      const held = hog.map(({ fs }, i) =>
        PUBLIC_HANDLERS.getProof!(
          stub,
          { fs, signal: new AbortController().signal, source: i % 2 === 0 ? '10.0.0.1' : '10.0.0.3' },
          p,
        ).then(
          () => 'served',
          (err: unknown) => err,
        ),
      )
      await vi.advanceTimersByTimeAsync(4_000)
      expect(p.proofs.activeProofs).toBe(4)
      const honest = client(Promise.resolve())
      const serveHonest = () =>
        PUBLIC_HANDLERS.getProof!(
          stub,
          { fs: honest.fs, signal: new AbortController().signal, source: '10.0.0.2' },
          p,
        ).then(
          () => 'served',
          (err: unknown) => err,
        )
      // Not yet heard out (8 s of the 10 s of waiting the address owes): the newcomer is refused.
      expect(await serveHonest()).toMatchObject({ code: 'NODE_BUSY' })
      await vi.advanceTimersByTimeAsync(1_000)
      expect(await serveHonest()).toBe('served')
      expect(await Promise.race(held)).toMatchObject({ code: 'READ_TOO_SLOW' })
      expect(hog.some(({ seen }) => seen.reset !== undefined)).toBe(true)
    } finally {
      vi.useRealTimers()
    }
  })
})
