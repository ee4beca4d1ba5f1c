import { readFileSync } from 'node:fs'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { buildApi, type NodeStatus } from '../../src/api/app.js'
import { httpStatusOf } from '../../src/api/errors.js'

/**
 * docs/operations.md "Operator API": which routes the token guards, and the status table of its
 * errors, read from the doc's text.
 */

const ops = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8')
const api = ops.slice(ops.indexOf('## Operator API'))
const routes = [...api.matchAll(/^\| `GET (\/[a-z0-9/]+)` \|/gm)].map((m) => m[1]!)
const TOKEN = 'correct-horse-battery-staple'

function app() {
  return buildApi({
    status: async () => ({}) as NodeStatus,
    readiness: () => ({ store: true, libp2p: true, snapshot: true, eligible: true }),
    listObjects: async () => ({ ok: true, objects: [], next_cursor: null, storage_event_id: 'e'.repeat(64) }),
    registry: new Registry(),
    token: TOKEN,
  })
}

describe('docs/operations.md Operator API', () => {
  it('guards every /v1 route of the table with the token and leaves /healthz, /readyz and /metrics open', async () => {
    expect(routes.sort()).toEqual(['/healthz', '/metrics', '/readyz', '/v1/objects', '/v1/status'])
    expect(api).toContain('`/healthz`, `/readyz` and `/metrics` stay open for probes and scrapers')
    const a = app()
    for (const route of routes) {
      const status = (await a.inject(route)).statusCode
      expect({ route, status }).toEqual({ route, status: route.startsWith('/v1/') ? 401 : 200 })
    }
  })

  it('answers each error code with the status the table gives', () => {
    const sentence = /and one status table: (.*?), anything else 500/s
      .exec(api)![1]!
      .replace(/\s+/g, ' ')
      .replaceAll('/ ', '/')
    const stated = [...sentence.matchAll(/((?:`[A-Z_*]+`\/?)+) (\d{3})/g)].flatMap((m) =>
      [...m[1]!.matchAll(/`([A-Z_*]+)`/g)].map((c) => [c[1]!, Number(m[2])] as const),
    )
    expect(stated.length).toBe(13)
    for (const [code, status] of stated) {
      // `INVALID_*` stands for every code of that form.
      const examples =
        code === 'INVALID_*' ? ['INVALID_INPUT', 'INVALID_VERSION', 'INVALID_METADATA'] : [code]
      for (const c of examples) expect({ c, status: httpStatusOf(c) }).toEqual({ c, status })
    }
    // "anything else 500"
    for (const c of ['INTERNAL', 'LOG_WRITE_FAILED', 'VERSION_CONFLICT', 'INTEGRITY_MISMATCH'])
      expect({ c, status: httpStatusOf(c) }).toEqual({ c, status: 500 })
  })
})
