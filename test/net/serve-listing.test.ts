import { afterEach, describe, expect, it, vi } from 'vitest'
import type { StorageEngine } from '../../src/engine/engine.js'
import type { FrameStream } from '../../src/net/frame-stream.js'
import { ListingAdmission } from '../../src/net/listing-admission.js'
import { PUBLIC_HANDLERS } from '../../src/net/serve-public.js'
import { oneReadPolicy } from './one-read-policy.js'

/** A client as the server's FrameStream sees it: it asks for a listing and takes its page at once. */
function client() {
  const seen = { frames: 0 }
  const fs = {
    readJson: async () => ({}),
    holdInput: () => {},
    write: async (parts: Uint8Array[]) => {
      seen.frames += parts.length
    },
    abort: () => {},
  } as unknown as FrameStream
  return { fs, seen }
}

/** An engine whose listings wait for `gate`, counting those it started. */
function engine(gate: Promise<void>) {
  const calls = { started: 0 }
  const stub = {
    listObjects: async () => {
      calls.started++
      await gate
      return { ok: true, objects: [], next_cursor: null, storage_event_id: 'e'.repeat(64) }
    },
  } as unknown as StorageEngine
  return { stub, calls }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('list_objects under its slots (docs/protocol.md 4.5)', () => {
  it("holds an address to its share of the listing slots by the exchange's source, and frees each slot with its page", async () => {
    const p = {
      ...oneReadPolicy(),
      listings: new ListingAdmission(
        { maxConcurrentListings: 2, readMinDeadlineMs: 60_000, readMinBytesPerSecond: 1_000 },
        () => Date.now(),
      ),
    }
    let open = () => {}
    const { stub, calls } = engine(new Promise<void>((resolve) => (open = resolve)))
    const serve = (source: string) =>
      PUBLIC_HANDLERS.listObjects!(
        stub,
        { fs: client().fs, signal: new AbortController().signal, source },
        p,
      ).then(
        () => 'served',
        (err: unknown) => err,
      )
    const first = serve('10.0.0.1')
    expect(await serve('10.0.0.1')).toMatchObject({
      code: 'NODE_BUSY',
      message: expect.stringContaining('an address holds at most 1'),
    })
    const other = serve('10.0.0.2')
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(p.listings.activeListings).toBe(2)
    expect(calls.started).toBe(2)
    open()
    expect(await Promise.all([first, other])).toEqual(['served', 'served'])
    expect(p.listings.activeListings).toBe(0)
  })

  it('earns a page allowance for every byte its client takes: a page taken at the minimum rate is served', async () => {
    vi.useFakeTimers()
    // 1 s of grace, then 100 bytes per second of waiting: a 1 KiB summary earns 10 s.
    const listings = new ListingAdmission(
      { maxConcurrentListings: 1, readMinDeadlineMs: 1_000, readMinBytesPerSecond: 100 },
      () => Date.now(),
    )
    const p = { ...oneReadPolicy(), listings }
    const summary = { object_id: 'ab'.repeat(32), note: 'x'.repeat(1_024) }
    const stub = {
      listObjects: async () => ({
        ok: true,
        objects: [summary, summary, summary],
        next_cursor: null,
        storage_event_id: 'e'.repeat(64),
      }),
    } as unknown as StorageEngine
    // The client takes each frame 600 ms after it is sent: 3 s for the page, 2 s past the grace.
    const fs = {
      readJson: async () => ({}),
      holdInput: () => {},
      write: (_parts: Uint8Array[], signal: AbortSignal) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, 600)
          signal.addEventListener('abort', () => {
            clearTimeout(timer)
            reject(signal.reason)
          })
        }),
      abort: () => {},
    } as unknown as FrameStream
    const served = PUBLIC_HANDLERS.listObjects!(
      stub,
      { fs, signal: new AbortController().signal, source: 'a' },
      p,
    ).then(
      () => 'served',
      (err: unknown) => err,
    )
    await vi.advanceTimersByTimeAsync(5 * 600)
    expect(await served).toBe('served')
    expect(listings.activeListings).toBe(0)
  })
})
