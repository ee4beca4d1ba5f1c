import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { Connection, Stream, StreamHandler } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { streamPair } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it, vi } from 'vitest'
import { recordWireBytes, type VersionRecord } from '../../src/core/record.js'
import type { StorageEngine } from '../../src/engine/engine.js'
import type { NodeService } from '../../src/engine/node-service.js'
import { FrameStream } from '../../src/net/frame-stream.js'
import { encodeEndFrame, encodeJsonFrame, type Frame, type JsonObject } from '../../src/net/frames.js'
import { ListingAdmission } from '../../src/net/listing-admission.js'
import { PROTOCOLS, perAddressShare } from '../../src/net/protocols.js'
import { readRecords } from '../../src/net/replica-answers.js'
import { PUBLIC_HANDLERS } from '../../src/net/serve-public.js'
import { type Registrar, storageProtocol } from '../../src/net/service.js'
import { buildVersion, TEST_PARAMS, testObjectId } from '../store/helpers.js'
import { oneReadPolicy } from './one-read-policy.js'

// In the catalogue's order, as a node sends them (an id's hex sorts as its bytes).
const records: VersionRecord[] = [1, 2, 3]
  .map(
    (i) =>
      buildVersion({ objectId: testObjectId(`bytes-${i}`), version: 1, content: new Uint8Array(i) }).record,
  )
  .sort((a, b) => (a.object_id < b.object_id ? -1 : 1))

/** A coordinator's side of replica/list, reading what a peer answers (`frames`, then END). */
async function readAnswer(bounds: { limit: number; maxBytes: number }): Promise<VersionRecord[]> {
  const [client, server] = await streamPair()
  const frames = [...records.map((r) => encodeJsonFrame(r as unknown as JsonObject)), encodeEndFrame()]
  for (const part of frames.flat()) server.send(part)
  await server.close()
  const fs = new FrameStream(client, { maxFrameBytes: 1_048_577, idleMs: 5_000 })
  return readRecords(fs, AbortSignal.timeout(5_000), bounds, TEST_PARAMS)
}

describe('replica/list answers past the bytes asked for', () => {
  const size = (n: number) => records.slice(0, n).reduce((sum, r) => sum + recordWireBytes(r), 0)

  it('takes records up to the one that reaches max_bytes, and refuses any after it', async () => {
    expect(await readAnswer({ limit: 10, maxBytes: size(3) })).toEqual(records)
    // The third record reaches the bound: none may follow it, and here none does.
    expect(await readAnswer({ limit: 10, maxBytes: size(2) + 1 })).toEqual(records)
    // The second reaches it, and a third follows: a peer answering more than it was asked for.
    await expect(readAnswer({ limit: 10, maxBytes: size(2) })).rejects.toMatchObject({
      code: 'FRAME_INVALID',
    })
    await expect(readAnswer({ limit: 10, maxBytes: 1 })).rejects.toMatchObject({ code: 'FRAME_INVALID' })
  })
})

describe('ListingAdmission', () => {
  const limits = { maxConcurrentListings: 2, readMinDeadlineMs: 1_000, readMinBytesPerSecond: 1_000 }
  const signal = new AbortController().signal

  it('refuses a listing past the cap with NODE_BUSY until one gives its slot back (once)', () => {
    const slots = new ListingAdmission(limits)
    const first = slots.admit(signal, 'a')
    const second = slots.admit(signal, 'b')
    expect(() => slots.admit(signal, 'c')).toThrow(expect.objectContaining({ code: 'NODE_BUSY' }))
    first.release()
    first.release()
    expect(slots.activeListings).toBe(1)
    const third = slots.admit(signal, 'c')
    expect(() => slots.admit(signal, 'a')).toThrow(expect.objectContaining({ code: 'NODE_BUSY' }))
    second.release()
    third.release()
    expect(slots.activeListings).toBe(0)
  })

  it('lets one address hold only its share of the slots, so another address is admitted while it is busy', () => {
    const slots = new ListingAdmission({ ...limits, maxConcurrentListings: 4 })
    const share = perAddressShare(4)
    const held = Array.from({ length: share }, () => slots.admit(signal, 'hog'))
    // The hog's next listing is refused although slots are free; a newcomer's is not.
    expect(() => slots.admit(signal, 'hog')).toThrow(expect.objectContaining({ code: 'NODE_BUSY' }))
    const other = slots.admit(signal, 'other')
    expect(slots.activeListings).toBe(share + 1)
    held[0]!.release()
    const again = slots.admit(signal, 'hog')
    for (const s of [...held, other, again]) s.release()
    expect(slots.activeListings).toBe(0)
  })

  it('ends a listing whose client takes its page below the minimum rate, and frees its slot', () => {
    let now = 0
    const slots = new ListingAdmission(limits, () => now)
    const listing = slots.admit(signal)
    // A client taking 256 KiB every 25 s (10 KB/s) once held every listing slot for minutes.
    vi.useFakeTimers()
    try {
      listing.beginWait()
      now += 900
      listing.endWait(500)
      listing.beginWait()
      vi.advanceTimersByTime(600)
      expect(listing.signal.aborted).toBe(true)
      expect(listing.signal.reason).toMatchObject({ code: 'READ_TOO_SLOW' })
    } finally {
      vi.useRealTimers()
    }
    listing.release()
    expect(slots.activeListings).toBe(0)
  })
})

describe('public listings at once (service)', () => {
  it('refuses one more than maxConcurrentListings with NODE_BUSY, and takes listings again once one ends', async () => {
    const handlers = new Map<string, StreamHandler>()
    const registrar: Registrar = {
      handle: async (protocol, handler) => void handlers.set(protocol, handler),
      unhandle: async (protocol) => void handlers.delete(protocol),
    }
    let open!: () => void
    const gate = new Promise<void>((resolve) => {
      open = resolve
    })
    let started = 0
    const engine = {
      listObjects: async () => {
        started++
        await gate
        return { ok: true, objects: [], next_cursor: null, storage_event_id: 'ab'.repeat(32) }
      },
    } as unknown as StorageEngine
    const service = storageProtocol({
      node: {} as NodeService,
      engine,
      limits: { maxConcurrentListings: 1, idleTimeoutMs: 5_000, requestTimeoutMs: 5_000 },
    })({ registrar })
    await service.start()
    const peer = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(3)))
    const list = async (): Promise<Frame> => {
      const [client, server] = await streamPair()
      void handlers.get(PROTOCOLS.listObjects)!(
        server as Stream,
        {
          remotePeer: peer,
          remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/1'),
        } as Connection,
      )
      for (const part of encodeJsonFrame({})) client.send(part)
      return new FrameStream(client, { maxFrameBytes: 1_048_577, idleMs: 5_000 }).read()
    }
    const first = list()
    await vi.waitFor(() => expect(started).toBe(1))
    expect(await list()).toMatchObject({ type: 'error', error: { code: 'NODE_BUSY' } })
    open()
    expect(await first).toMatchObject({ type: 'json', value: { ok: true } })
    expect(await list()).toMatchObject({ type: 'json', value: { ok: true } })
    expect(started).toBe(2)
    await service.stop()
  })
})

describe('a listing page under the read rule (serve)', () => {
  it('ends a client that takes its page a summary at a time, slower than the minimum rate: READ_TOO_SLOW, the stream reset, the slot free', async () => {
    vi.useFakeTimers()
    try {
      const policy = oneReadPolicy()
      const seen = { writes: 0, reset: undefined as Error | undefined }
      // Each frame is taken 600 ms after it is handed over: about 200 bytes a second.
      const write = (signal?: AbortSignal) =>
        new Promise<void>((resolve, reject) => {
          if (signal?.aborted === true) return reject(signal.reason)
          const timer = setTimeout(() => {
            seen.writes++
            resolve()
          }, 600)
          signal?.addEventListener('abort', () => {
            clearTimeout(timer)
            reject(signal.reason)
          })
        })
      const fs = {
        readJson: async () => ({ filters: { limit: 1000 } }),
        holdInput: () => {},
        write: (_parts: Uint8Array[], signal?: AbortSignal) => write(signal),
        writeJson: (_value: unknown, signal?: AbortSignal) => write(signal),
        writeEnd: (signal?: AbortSignal) => write(signal),
        abort: (err: Error) => {
          seen.reset = err
        },
      } as unknown as FrameStream
      const engine = {
        listObjects: async () => ({
          ok: true,
          objects: Array.from({ length: 1000 }, (_, i) => ({
            object_id: testObjectId(`s-${i}`),
            version: 1,
          })),
          next_cursor: null,
          storage_event_id: 'ab'.repeat(32),
        }),
      } as unknown as StorageEngine
      const outcome = PUBLIC_HANDLERS.listObjects!(
        engine,
        { fs, signal: new AbortController().signal },
        policy,
      ).then(
        () => 'served',
        (err: unknown) => err,
      )
      await vi.advanceTimersByTimeAsync(10_000)
      expect(await outcome).toMatchObject({ code: 'READ_TOO_SLOW' })
      expect(seen.reset).toMatchObject({ code: 'READ_TOO_SLOW' })
      expect(seen.writes).toBeLessThan(10)
      expect(policy.listings.activeListings).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })
})
