import { type AddressInfo, connect } from 'node:net'
import { Duplex } from 'node:stream'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { type ApiDeps, buildApi } from '../../src/api/app.js'
import { httpStatusOf } from '../../src/api/errors.js'
import type { ListResponse } from '../../src/engine/responses.js'
import { ListingAdmission } from '../../src/net/listing-admission.js'
import { DEFAULT_LIMITS } from '../../src/net/protocols.js'

const PAGE: ListResponse = { ok: true, objects: [], next_cursor: null, storage_event_id: 'e'.repeat(64) }

function setup(overrides: Partial<ApiDeps> = {}) {
  const calls: unknown[] = []
  const deps: ApiDeps = {
    status: async () => {
      throw new Error('not used')
    },
    readiness: () => ({ store: true, libp2p: true, snapshot: true, eligible: true }),
    listObjects: async (filters) => {
      calls.push(filters)
      return PAGE
    },
    registry: new Registry(),
    ...overrides,
  }
  return { app: buildApi(deps), calls }
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 5))
  expect(check()).toBe(true)
}

describe('operator API guards', () => {
  it.each(['limit=0', 'color=red', 'limit=1&limit=2', 'tag='])(
    'asks for the token before it looks at the query: /v1/objects?%s without one is 401, not 400',
    async (query) => {
      const { app, calls } = setup({ token: 'correct-horse-battery-staple' })
      for (const headers of [{}, { authorization: 'Bearer wrong' }]) {
        const res = await app.inject({ url: `/v1/objects?${query}`, headers })
        expect(res.statusCode).toBe(401)
        expect(res.json()).toMatchObject({ ok: false, code: 'UNAUTHORIZED' })
      }
      expect(calls).toEqual([])
    },
  )

  it.each([
    ['NOT_FOUND', 404],
    ['UNAUTHORIZED', 401],
    ['INVALID_INPUT', 400],
    ['INVALID_CURSOR', 400],
    ['OVERFLOW', 400],
    ['UNDERFLOW', 400],
    ['NO_SNAPSHOT', 503],
    ['AEGIS_CONTEXT_MISSING', 503],
    ['QUORUM_NOT_REACHED', 503],
    ['NODE_UNAVAILABLE', 503],
    ['INSUFFICIENT_NODES', 503],
    ['STORAGE_FULL', 503],
    ['SHARD_UNAVAILABLE', 503],
    ['NODE_BUSY', 503],
    ['INTERNAL', 500],
    ['INTEGRITY_MISMATCH', 500],
    // No error carries this code (SE_ERR_NO_ELIGIBLE_NODES is a class, not a code): like any unknown one, 500.
    ['NO_ELIGIBLE_NODES', 500],
  ] as const)('maps the code %s to HTTP %i', (code, status) => {
    expect(httpStatusOf(code)).toBe(status)
  })

  it('answers a thrown error carrying a 5xx statusCode as INTERNAL, without its message', async () => {
    const { app } = setup({
      status: async () => {
        throw Object.assign(new Error('secret path /var/lib/qfs/db'), { statusCode: 503 })
      },
    })
    const res = await app.inject('/v1/status')
    expect(res.statusCode).toBe(500)
    expect(res.json()).toEqual({ ok: false, code: 'INTERNAL', message: 'internal error' })
  })

  it('counts every /v1/objects client as one source, whatever address it comes from', async () => {
    const slots = new ListingAdmission(DEFAULT_LIMITS)
    const pending: (() => void)[] = []
    const { app } = setup({
      listObjects: () => new Promise<ListResponse>((resolve) => pending.push(() => resolve(PAGE))),
      admitListing: (signal, source) => slots.admit(signal, source),
    })
    const held = [
      app.inject({ url: '/v1/objects', remoteAddress: '10.0.0.1' }),
      app.inject({ url: '/v1/objects', remoteAddress: '10.0.0.2' }),
    ]
    await until(() => pending.length === 2)
    // A third address still finds the API's share (half the slots) taken.
    const third = await app.inject({ url: '/v1/objects', remoteAddress: '10.0.0.3' })
    expect(third.statusCode).toBe(503)
    expect(third.json()).toMatchObject({ code: 'NODE_BUSY' })
    for (const answer of pending) answer()
    await Promise.all(held)
  })
  it('keeps the slot of a listing until its page is sent: a client that stops reading holds it', async () => {
    const slots = new ListingAdmission(DEFAULT_LIMITS)
    // A page of 16 MiB: more than the kernel's socket buffers take from a client that reads nothing.
    const big = 'x'.repeat(1024 * 1024)
    const page: ListResponse = {
      ...PAGE,
      objects: Array.from({ length: 16 }, (_, i) => ({
        object_id: i.toString(16).padStart(64, '0'),
        version: 1,
        kind: 'STORE' as const,
        hash_commit: 'a'.repeat(64),
        content_size: 1,
        created_at_tick: 0,
        metadata: { author_node_id: 'n', created_at_tick: 0, tags: [], big } as never,
      })),
    }
    let listed = 0
    const { app } = setup({
      listObjects: async () => {
        listed++
        return page
      },
      admitListing: (signal, source) => slots.admit(signal, source),
    })
    try {
      await app.listen({ host: '127.0.0.1', port: 0 })
      const { port } = app.server.address() as AddressInfo
      const client = connect(port, '127.0.0.1')
      client.on('error', () => {})
      client.pause()
      client.write('GET /v1/objects HTTP/1.1\r\nHost: node\r\n\r\n')
      await until(() => listed === 1)
      await new Promise((r) => setTimeout(r, 200))
      expect(slots.activeListings).toBe(1)
      client.destroy()
      await until(() => slots.activeListings === 0)
    } finally {
      await app.close()
    }
  })
})

/** A socket that records what is written to it. */
function fakeSocket(): Duplex & { written: string } {
  const socket = new Duplex({ read() {}, write: (_chunk, _encoding, done) => done() }) as Duplex & {
    written: string
  }
  socket.written = ''
  socket.write = ((chunk: string) => {
    socket.written += chunk
    return true
  }) as never
  return socket
}

describe("the operator API's answers to what Node's HTTP parser refuses", () => {
  it('answers a request that did not arrive in time with 408 TIMEOUT', async () => {
    const { app } = setup()
    const socket = fakeSocket()
    app.server.emit(
      'clientError',
      Object.assign(new Error('timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }),
      socket,
    )
    expect(socket.written).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/)
    expect(JSON.parse(socket.written.split('\r\n\r\n')[1]!)).toEqual({
      ok: false,
      code: 'TIMEOUT',
      message: 'the request did not arrive in time',
    })
    expect(socket.destroyed).toBe(true)
  })

  it('writes nothing to a connection the client reset', async () => {
    const { app } = setup()
    const socket = fakeSocket()
    app.server.emit('clientError', Object.assign(new Error('reset'), { code: 'ECONNRESET' }), socket)
    expect(socket.written).toBe('')
  })
})
