import { once } from 'node:events'
import { type AddressInfo, connect } from 'node:net'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { buildApi } from '../../src/api/app.js'
import type { ListResponse } from '../../src/engine/responses.js'

const PAGE: ListResponse = { ok: true, objects: [], next_cursor: null, storage_event_id: 'e'.repeat(64) }

/**
 * A /v1/objects request whose connection closed before its handler ran: the handler takes a
 * listing slot, and nothing will ever close the response or the socket again (both already
 * emitted 'close'), so the slot must be given back at once, not when a 'close' comes.
 */
describe('a listing whose connection closed before its handler ran', () => {
  it('gives its listing slot back at once and aborts the listing', async () => {
    let released = 0
    let releasedWhenListed: number | undefined
    let signalWhenListed: AbortSignal | undefined
    let listed!: () => void
    const listing = new Promise<void>((resolve) => {
      listed = resolve
    })
    const app = buildApi({
      status: async () => {
        throw new Error('not used')
      },
      readiness: () => ({ store: true, libp2p: true, snapshot: true, eligible: true }),
      listObjects: async (_filters, { signal }) => {
        releasedWhenListed = released
        signalWhenListed = signal
        listed()
        return PAGE
      },
      admitListing: (signal) => ({
        signal,
        release: () => {
          released++
        },
      }),
      registry: new Registry(),
    })
    // Stands for a handler that runs late: the client hangs up, and the handler runs only once the
    // socket and the response have both emitted 'close' (events, not a timer).
    app.addHook('preHandler', async (request, reply) => {
      const socketClosed = once(request.raw.socket, 'close')
      const responseClosed = once(reply.raw, 'close')
      request.raw.socket.destroy()
      await Promise.all([socketClosed, responseClosed])
      await nextTurn()
    })
    try {
      await app.listen({ host: '127.0.0.1', port: 0 })
      const { port } = app.server.address() as AddressInfo
      const client = connect(port, '127.0.0.1')
      client.on('error', () => {})
      client.write('GET /v1/objects HTTP/1.1\r\nHost: node\r\n\r\n')
      await listing
      expect(releasedWhenListed).toBe(1)
      expect(signalWhenListed?.aborted).toBe(true)
      await nextTurn()
      expect(released).toBe(1)
      client.destroy()
    } finally {
      await app.close()
    }
  })
})
