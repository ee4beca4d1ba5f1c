import { describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { StreamEndedError } from '../../src/net/errors.js'
import { engineOn, expectOk } from './consistency-claims-helpers.js'
import { freeze, spyHealth } from './cut-short-helpers.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

describe('a listing whose caller goes while a node is asked', () => {
  it("answers at once with the caller's reason, blames no node, and still leaves its event", async () => {
    const h = await inProcessHarness(5)
    try {
      const oid = objectId('list-abandoned', 'o')
      expectOk(await h.engine(h.nodeIds[0]!).putContent(oid, 1, bytesOf('la', 3000), meta(1)))
      // One node never answers: only the caller's signal (or the 5 s deadline) ends its exchange.
      const undo = freeze(h.net.transport, h.nodeIds[4]!)
      try {
        const coordinator = h.nodeIds[1]!
        const health = spyHealth([])
        const before = h.logEntries(coordinator)
        const gone = new AbortController()
        const reason = new StreamEndedError('the client reset the stream')
        setTimeout(() => gone.abort(reason), 50)
        const started = Date.now()
        const page = await engineOn(h, coordinator, {}, health).listObjects(
          { prefix: oid },
          { signal: gone.signal },
        )
        expect(Date.now() - started).toBeLessThan(2_000)
        expect(page).toMatchObject({ ok: false, code: 'STREAM_ENDED' })
        expect(health.reports.filter((r) => !r.endsWith(':ok'))).toEqual([])
        expect(h.logEntries(coordinator) - before).toBe(1)
      } finally {
        undo()
      }
    } finally {
      await h.close()
    }
  })
})

describe('a listing', () => {
  it('leaves one LIST_OBJECTS event with the filters it answered and how many versions', async () => {
    const h = await inProcessHarness(5)
    try {
      const oid = objectId('list-abandoned', 'event')
      expectOk(await h.engine(h.nodeIds[0]!).putContent(oid, 1, bytesOf('le1', 3000), meta(1)))
      expectOk(await h.engine(h.nodeIds[0]!).putContent(oid, 2, bytesOf('le2', 3000), meta(2)))
      const coordinator = h.nodeIds[1]!
      const before = h.logEntries(coordinator)
      const page = await h.engine(coordinator).listObjects({ prefix: oid })
      expectOk(page)
      expect(h.logEntries(coordinator) - before).toBe(1)
      const events = []
      for await (const e of h.net.node(coordinator).log.iterate()) events.push(e)
      expect(events.at(-1)).toMatchObject({
        event_type: 'LIST_OBJECTS',
        error_code: null,
        details: { filters: { prefix: oid }, count: 2 },
      })
      expect(events.at(-1)!.event_id).toBe(page.storage_event_id)
    } finally {
      await h.close()
    }
  })
})
