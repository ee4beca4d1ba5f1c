import { get } from 'node:http'
import { type AddressInfo, connect } from 'node:net'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { API_LISTING_ROUTE, buildApi } from '../../src/api/app.js'
import { NodeMetrics } from '../../src/daemon/metrics.js'
import type { ListResponse } from '../../src/engine/responses.js'
import { ListingAdmission } from '../../src/net/listing-admission.js'
import { DEFAULT_LIMITS } from '../../src/net/protocols.js'

const PAGE: ListResponse = { ok: true, objects: [], next_cursor: null, storage_event_id: 'e'.repeat(64) }

/**
 * An API whose listings take the node's real listing slots (4, an address holding at most 2), and
 * whose engine answers each listing only when the test says so.
 */
function setup() {
  const slots = new ListingAdmission(DEFAULT_LIMITS)
  const pending: { signal: AbortSignal; answer: () => void }[] = []
  const app = buildApi({
    status: async () => {
      throw new Error('not used')
    },
    readiness: () => ({ store: true, libp2p: true, snapshot: true, eligible: true }),
    listObjects: (_filters, { signal }) =>
      new Promise<ListResponse>((resolve, reject) => {
        pending.push({ signal, answer: () => resolve(PAGE) })
        signal.addEventListener('abort', () => reject(signal.reason), { once: true })
      }),
    admitListing: (signal, source) => slots.admit(signal, source),
    registry: new Registry(),
  })
  return { app, slots, pending }
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 5))
  expect(check()).toBe(true)
}

let close: (() => Promise<unknown>) | undefined
afterEach(async () => {
  await close?.()
  close = undefined
})

describe('/v1/objects under the node listing slots', () => {
  it('holds a slot per request, refuses past the source share with NODE_BUSY, and leaves libp2p clients theirs', async () => {
    const { app, slots, pending } = setup()
    close = () => app.close()
    const first = app.inject('/v1/objects')
    const second = app.inject('/v1/objects')
    await until(() => pending.length === 2)
    expect(slots.activeListings).toBe(2)

    const third = await app.inject('/v1/objects')
    expect(third.statusCode).toBe(503)
    expect(third.json()).toMatchObject({ ok: false, code: 'NODE_BUSY' })

    // Every API client is one source, so the other half of the slots stays with libp2p clients.
    const fromLibp2p = slots.admit(new AbortController().signal, '10.0.0.7')
    expect(slots.activeListings).toBe(3)
    fromLibp2p.release()

    for (const p of pending) p.answer()
    expect((await first).statusCode).toBe(200)
    expect((await second).statusCode).toBe(200)
    await until(() => slots.activeListings === 0)
    // Sent answers gave their slots back: the API is served again.
    const again = app.inject('/v1/objects')
    await until(() => pending.length === 3)
    pending[2]!.answer()
    expect((await again).statusCode).toBe(200)
  })

  it('stops the listing and frees the slot when the client goes before its answer', async () => {
    const { app, slots, pending } = setup()
    close = () => app.close()
    await app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = app.server.address() as AddressInfo
    const request = get(`http://127.0.0.1:${port}/v1/objects`)
    request.on('error', () => {})
    await until(() => pending.length === 1)
    expect(slots.activeListings).toBe(1)
    request.destroy()
    await until(() => pending[0]!.signal.aborted && slots.activeListings === 0)
  })

  it('frees the slot of a pipelined request whose connection closes while its answer waits in the queue', async () => {
    // Node queues the response of a pipelined request until the one before it is sent, with no
    // socket: closing the connection never closes that response, so only the socket says so.
    const { app, slots, pending } = setup()
    close = () => app.close()
    await app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = app.server.address() as AddressInfo
    const socket = connect(port, '127.0.0.1')
    socket.on('error', () => {})
    const get = 'GET /v1/objects HTTP/1.1\r\nHost: node\r\n\r\n'
    socket.write(get + get)
    await until(() => pending.length === 2)
    expect(slots.activeListings).toBe(2)
    socket.destroy()
    await until(() => pending.every((p) => p.signal.aborted) && slots.activeListings === 0)
  })

  it('counts a listing refused for want of a slot in qfs_exchange_failures_total, as the daemon wires it', async () => {
    const registry = new Registry()
    const metrics = new NodeMetrics(registry)
    const slots = new ListingAdmission(DEFAULT_LIMITS)
    const pending: (() => void)[] = []
    const app = buildApi({
      status: async () => {
        throw new Error('not used')
      },
      readiness: () => ({ store: true, libp2p: true, snapshot: true, eligible: true }),
      listObjects: () => new Promise<ListResponse>((resolve) => pending.push(() => resolve(PAGE))),
      admitListing: (signal, source) =>
        metrics.countingRefusals(API_LISTING_ROUTE, () => slots.admit(signal, source)),
      registry,
    })
    close = () => app.close()
    const held = [app.inject('/v1/objects'), app.inject('/v1/objects')]
    await until(() => pending.length === 2)
    expect((await app.inject('/v1/objects')).statusCode).toBe(503)
    const text = await registry.metrics()
    expect(text).toContain('qfs_exchange_failures_total{protocol="/v1/objects",code="NODE_BUSY"} 1')
    for (const answer of pending) answer()
    await Promise.all(held)
  })

  it('puts one listener on a socket however many requests are pipelined on it', async () => {
    const { app, slots, pending } = setup()
    close = () => app.close()
    await app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = app.server.address() as AddressInfo
    const warnings: string[] = []
    const onWarning = (w: Error) => warnings.push(w.name)
    process.on('warning', onWarning)
    try {
      const socket = connect(port, '127.0.0.1')
      socket.on('error', () => {})
      await new Promise((r) => socket.once('connect', r))
      socket.write('GET /v1/objects HTTP/1.1\r\nHost: node\r\n\r\n'.repeat(12))
      await until(() => pending.length === 2)
      // Ten past the two admitted were refused and wait in the queue behind them; all are watched.
      await new Promise((r) => setTimeout(r, 100))
      socket.destroy()
      await until(() => pending.every((p) => p.signal.aborted) && slots.activeListings === 0)
      await new Promise((r) => setImmediate(r))
      expect(warnings).not.toContain('MaxListenersExceededWarning')
    } finally {
      process.off('warning', onWarning)
    }
  })
})
