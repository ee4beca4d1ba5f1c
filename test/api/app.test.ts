import { type AddressInfo, connect } from 'node:net'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { type ApiDeps, buildApi, type NodeStatus } from '../../src/api/app.js'
import { QfsError } from '../../src/core/errors.js'
import { NodeMetrics } from '../../src/daemon/metrics.js'
import type { ListResponse } from '../../src/engine/responses.js'

const ID = (c: string) => c.repeat(64)

const STATUS: NodeStatus = {
  node_id: '12D3KooWtest',
  version: '0.1.0',
  ready: true,
  epoch: 3,
  snapshot_hash: ID('a'),
  multiaddrs: ['/ip4/127.0.0.1/tcp/4001'],
  peers: 2,
  store: { objects: 1, versions: 2, shards: 4, bytes_stored: 1000, staged: 0 },
  log: {
    entries: 5,
    last_event_id: ID('b'),
    covered_entries: 5,
    checkpoints: 1,
    last_checkpoint_id: ID('c'),
  },
  space: { free_bytes: 5000, reserve_bytes: 100, capacity_bytes: null, accepting_writes: true },
  suspect_peers: [],
  uptime_seconds: 12.5,
}

const LISTED: ListResponse = {
  ok: true,
  objects: [
    {
      object_id: ID('1'),
      version: 1,
      kind: 'STORE',
      hash_commit: ID('2'),
      content_size: 10,
      created_at_tick: 7,
      metadata: { author_node_id: 'n', created_at_tick: 7, tags: ['x'] } as never,
    },
  ],
  next_cursor: { object_id: ID('1'), version: 1 },
  storage_event_id: ID('3'),
}

function setup(overrides: Partial<ApiDeps> = {}) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const metrics = new NodeMetrics(registry)
  const calls: unknown[] = []
  const deps: ApiDeps = {
    status: async () => ({ ...STATUS, extra: 'not in the schema' }) as NodeStatus,
    readiness: () => ({ store: true, libp2p: true, snapshot: true, eligible: true }),
    listObjects: async (filters) => {
      calls.push(filters)
      return LISTED
    },
    registry,
    ...overrides,
  }
  return { app: buildApi(deps), calls, metrics }
}

describe('operator API', () => {
  it('answers /healthz and /readyz from the readiness checks', async () => {
    const { app } = setup()
    const health = await app.inject('/healthz')
    expect(health.statusCode).toBe(200)
    expect(health.json()).toEqual({ status: 'ok' })
    expect((await app.inject('/readyz')).json()).toEqual({
      ready: true,
      checks: { store: true, libp2p: true, snapshot: true, eligible: true },
    })
    const notReady = setup({
      readiness: () => ({ store: true, libp2p: true, snapshot: false, eligible: false }),
    }).app
    const r = await notReady.inject('/readyz')
    expect(r.statusCode).toBe(503)
    expect(r.json()).toMatchObject({ ready: false, checks: { snapshot: false } })
    // A node the snapshot does not list is refused by every eligible node: not ready, and it says why.
    const outsider = setup({
      readiness: () => ({ store: true, libp2p: true, snapshot: true, eligible: false }),
    }).app
    const o = await outsider.inject('/readyz')
    expect(o.statusCode).toBe(503)
    expect(o.json()).toEqual({
      ready: false,
      checks: { store: true, libp2p: true, snapshot: true, eligible: false },
    })
  })

  it('serves Prometheus text with the node metrics and the default ones', async () => {
    const { app, metrics } = setup()
    metrics.observe('write', 'ok', 0.02)
    metrics.observe('write', 'error', 0.01, 'VERSION_CONFLICT')
    // Codes that came off the wire are kept only if they are ours: the series stay bounded.
    for (let i = 0; i < 50; i++) {
      metrics.observe('read', 'error', 0.01, `PEER_CODE_${i}`)
      metrics.exchangeFailed('read', `PEER_CODE_${i}`)
      metrics.peerFailed('node-x', `PEER_CODE_${i}`)
    }
    metrics.bind({
      storeStats: async () => STATUS.store,
      space: async () => STATUS.space,
      peerCount: () => 2,
      suspectCount: () => 1,
      slotsInUse: () => ({
        reads: 7,
        writes: 6,
        proofs: 5,
        listings: 4,
        readYields: 3,
        writeYields: 0,
        proofYields: 2,
        listingYields: 1,
      }),
      epoch: () => 3,
      logEntries: () => 5,
    })
    const res = await app.inject('/metrics')
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    for (const name of [
      'qfs_stored_bytes 1000',
      'qfs_shards 4',
      'qfs_objects 1',
      'qfs_versions 2',
      'qfs_peers 2',
      'qfs_suspect_peers 1',
      'qfs_public_reads_active 7',
      'qfs_public_writes_active 6',
      'qfs_slot_yields_total{kind="read"} 3',
      'qfs_slot_yields_total{kind="write"} 0',
      'qfs_public_proofs_active 5',
      'qfs_public_listings_active 4',
      'qfs_slot_yields_total{kind="proof"} 2',
      'qfs_slot_yields_total{kind="listing"} 1',
      'qfs_storage_free_bytes 5000',
      'qfs_storage_accepting_writes 1',
      'qfs_requests_total{op="write",outcome="ok"} 1',
      'qfs_requests_total{op="write",outcome="error"} 1',
      'qfs_request_errors_total{op="write",code="VERSION_CONFLICT"} 1',
      'qfs_request_errors_total{op="read",code="OTHER"} 50',
      'qfs_exchange_failures_total{protocol="read",code="OTHER"} 50',
      'qfs_peer_failures_total{node="node-x",code="OTHER"} 50',
      'qfs_request_duration_seconds_bucket{le="0.05",op="write"} 2',
      'process_cpu_user_seconds_total',
    ]) {
      expect(res.body).toContain(name)
    }
    expect(res.body).not.toContain('PEER_CODE')
  })

  it('answers /v1/status through its schema (unlisted fields are not sent)', async () => {
    const { app } = setup()
    const res = await app.inject('/v1/status')
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual(STATUS)
  })

  it('turns /v1/objects query parameters into engine filters', async () => {
    const { app, calls } = setup()
    const res = await app.inject(
      `/v1/objects?limit=5&after_object_id=${ID('d')}&after_version=2&prefix=ab&tag=t&author=me&tick_from=1&tick_to=9`,
    )
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual(LISTED)
    expect(calls).toEqual([
      {
        limit: 5,
        after: { object_id: ID('d'), version: 2 },
        prefix: 'ab',
        tag: 't',
        author: 'me',
        tick_from: 1,
        tick_to: 9,
      },
    ])
  })

  it.each([
    'limit=0',
    'limit=1001',
    'limit=x',
    'prefix=XY',
    `after_object_id=${ID('d')}`,
    'after_version=1',
    'tick_from=-1',
    'color=red',
    // Integers as the CLI takes them: no exponent, fraction, sign or leading zeros.
    'limit=1e3',
    'limit=0010',
    'limit=5.0',
    'limit=+5',
    'tick_to=1e2',
    `after_object_id=${ID('d')}&after_version=01`,
    'limit=5&limit=6',
    // tick_from as the other integers; a cursor id 64 lower-case hex.
    'tick_from=1e2',
    'tick_from=01',
    'tick_from=+1',
    `after_version=1e0&after_object_id=${ID('d')}`,
    `after_object_id=${'D'.repeat(64)}&after_version=1`,
    `after_object_id=${'d'.repeat(63)}&after_version=1`,
  ])('refuses /v1/objects?%s with 400 INVALID_INPUT', async (query) => {
    const { app, calls } = setup()
    const res = await app.inject(`/v1/objects?${query}`)
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ ok: false, code: 'INVALID_INPUT' })
    expect(calls).toEqual([])
  })

  it.each([
    ['color=red', 'unknown query parameter color'],
    ['limit=5&color=red&colour=blue', 'unknown query parameter color'],
    ['limit=5&limit=6', 'limit is given 2 times: give it once'],
    ['tag=a&tag=b&tag=c', 'tag is given 3 times: give it once'],
  ])('names what is wrong in /v1/objects?%s', async (query, message) => {
    const { app, calls } = setup()
    const res = await app.inject(`/v1/objects?${query}`)
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({ ok: false, code: 'INVALID_INPUT', message })
    expect(calls).toEqual([])
  })

  it.each(['tag', 'author'])(
    'bounds %s in UTF-16 code units as the engine does: 256 taken, 257 refused before the engine',
    async (key) => {
      const { app, calls } = setup()
      const get = (text: string) => app.inject(`/v1/objects?${key}=${encodeURIComponent(text)}`)
      // 128 astral characters are 256 units; 129 are 258 units but only 129 code points.
      for (const text of ['x'.repeat(256), '\u{1F600}'.repeat(128)]) {
        expect((await get(text)).statusCode).toBe(200)
      }
      expect(calls).toEqual([{ [key]: 'x'.repeat(256) }, { [key]: '\u{1F600}'.repeat(128) }])
      for (const text of ['x'.repeat(257), '\u{1F600}'.repeat(129), '\u{1F600}'.repeat(200), '']) {
        const res = await get(text)
        expect(res.statusCode).toBe(400)
        // The engine's words, and no error_code: refused here, not by an engine call.
        expect(res.json()).toEqual({
          ok: false,
          code: 'INVALID_INPUT',
          message: `${key} must be 1..256 UTF-16 code units long, not ${text.length}`,
        })
      }
      expect(calls).toHaveLength(2)
    },
  )

  it.each([
    ['INVALID_INPUT', 'SE_ERR_INVALID_INPUT', 400],
    ['NO_SNAPSHOT', 'SE_ERR_AEGIS_CONTEXT_MISSING', 503],
    ['QUORUM_NOT_REACHED', 'SE_ERR_NO_ELIGIBLE_NODES', 503],
    ['INTERNAL', 'SE_ERR_INTERNAL', 500],
  ] as const)('maps an engine failure %s to HTTP %i', async (code, errorCode, status) => {
    const { app } = setup({
      listObjects: async () => ({
        ok: false,
        code,
        error_code: errorCode,
        error_detail: 'detail',
        storage_event_id: ID('e'),
      }),
    })
    const res = await app.inject('/v1/objects')
    expect(res.statusCode).toBe(status)
    expect(res.json()).toEqual({
      ok: false,
      code,
      message: 'detail',
      error_code: errorCode,
      storage_event_id: ID('e'),
    })
  })

  it('maps thrown errors through one table and never leaks an internal message', async () => {
    const bad = setup({
      status: async () => {
        throw new QfsError('INVALID_WIDGET', 'widget out of range')
      },
    }).app
    const r1 = await bad.inject('/v1/status')
    expect(r1.statusCode).toBe(400)
    expect(r1.json()).toEqual({ ok: false, code: 'INVALID_WIDGET', message: 'widget out of range' })
    const broken = setup({
      status: async () => {
        throw new Error('secret path /etc/x')
      },
      logger: undefined,
    }).app
    const r2 = await broken.inject('/v1/status')
    expect(r2.statusCode).toBe(500)
    expect(r2.json()).toEqual({ ok: false, code: 'INTERNAL', message: 'internal error' })
    const missing = await broken.inject('/v2/nothing?x=1')
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toEqual({ ok: false, code: 'NOT_FOUND', message: 'no route GET /v2/nothing' })
  })

  it('requires the bearer token on /v1 when one is configured, and only there', async () => {
    const token = 'correct-horse-battery-staple'
    const { app } = setup({ token })
    const none = await app.inject('/v1/status')
    expect(none.statusCode).toBe(401)
    expect(none.headers['www-authenticate']).toBe('Bearer')
    expect(none.json()).toMatchObject({
      ok: false,
      code: 'UNAUTHORIZED',
      message: 'a bearer token is required (Authorization: Bearer <api.token>)',
    })
    const wrong = await app.inject({ url: '/v1/objects', headers: { authorization: 'Bearer nope' } })
    expect(wrong.statusCode).toBe(401)
    // A token that was given but is wrong is told apart from none at all.
    expect(wrong.json()).toMatchObject({
      code: 'UNAUTHORIZED',
      message: "the bearer token is not this node's api.token",
    })
    const basic = await app.inject({ url: '/v1/status', headers: { authorization: `Basic ${token}` } })
    expect(basic.statusCode).toBe(401)
    expect(basic.json()).toMatchObject({
      message: 'a bearer token is required (Authorization: Bearer <api.token>)',
    })
    const ok = await app.inject({ url: '/v1/status', headers: { authorization: `Bearer ${token}` } })
    expect(ok.statusCode).toBe(200)
    expect((await app.inject('/healthz')).statusCode).toBe(200)
    expect((await app.inject('/metrics')).statusCode).toBe(200)
  })

  it('takes the Bearer scheme in any case (RFC 7235: schemes are case-insensitive), the token exactly', async () => {
    const token = 'correct-horse-battery-staple'
    const { app } = setup({ token })
    const status = (authorization: string) =>
      app.inject({ url: '/v1/status', headers: { authorization } }).then((r) => r.statusCode)
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      expect(await status(`${scheme} ${token}`), scheme).toBe(200)
    }
    // The token itself is compared as it is: case matters there.
    expect(await status(`bearer ${token.toUpperCase()}`)).toBe(401)
    for (const wrong of [token, `Bearer${token}`, `Bearerx ${token}`, `Bearer ${token} extra`, 'Bearer ']) {
      expect(await status(wrong), wrong).toBe(401)
    }
  })
})

describe('requests Node refuses before any route', () => {
  /** Sends raw bytes to a listening API and returns the status line and body of its answer. */
  async function raw(bytes: string): Promise<{ status: number; body: unknown }> {
    const { app } = setup()
    await app.listen({ host: '127.0.0.1', port: 0 })
    try {
      const address = app.server.address() as AddressInfo
      const text = await new Promise<string>((resolve, reject) => {
        const socket = connect(address.port, '127.0.0.1', () => socket.end(bytes))
        let got = ''
        socket.on('data', (d) => {
          got += d.toString('latin1')
        })
        socket.on('close', () => resolve(got))
        socket.on('error', reject)
      })
      const [head, body] = text.split('\r\n\r\n')
      return { status: Number(head!.split(' ')[1]), body: JSON.parse(body!) }
    } finally {
      await app.close()
    }
  }

  it('answer with our error shape: a URL too large, a malformed request', async () => {
    const big = await raw(`GET /v1/objects?prefix=${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`)
    expect(big).toEqual({
      status: 431,
      body: { ok: false, code: 'INVALID_INPUT', message: expect.any(String) },
    })
    const bad = await raw('NOT HTTP AT ALL\r\n\r\n')
    expect(bad).toEqual({
      status: 400,
      body: { ok: false, code: 'INVALID_INPUT', message: expect.any(String) },
    })
  })

  it.each(['/%', '/v1/%zz', '/v1/objects%', '/v1/objects%?limit=1'])(
    "answer a path that does not percent-decode (GET %s) with 400 in our error shape, not fastify's",
    async (path) => {
      const answer = await raw(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
      expect(answer).toEqual({
        status: 400,
        body: { ok: false, code: 'INVALID_INPUT', message: expect.stringContaining('not a valid url') },
      })
    },
  )
})
