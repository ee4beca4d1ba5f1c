import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

type Harness = Awaited<ReturnType<typeof inProcessHarness>>

describe('the node clock', () => {
  let h: Harness
  beforeAll(async () => {
    h = await inProcessHarness(3)
  })
  afterAll(async () => {
    await h?.close()
  })

  it('records a request tick as stated but never lets a request move the node clock', async () => {
    const node = h.nodeIds[0]!
    const e = h.engine(node)
    const oid = objectId('clock', 'far-future')
    const far = Number.MAX_SAFE_INTEGER
    const put = await e.putContent(oid, 1, bytesOf('clock', 10), meta(far))
    expect(put.ok).toBe(true)
    const read = await e.getContent(oid, 1)
    expect(read.ok).toBe(true)
    const log = h.net.node(node).log
    const events = []
    for await (const ev of log.iterate()) events.push(ev)
    const store = events.find((ev) => ev.event_type === 'STORE')!
    const readEvent = events.find((ev) => ev.event_type === 'READ')!
    expect(store.timestamp_tick).toBe(far)
    // The READ is stamped with the node's own clock, which the request above did not move.
    expect(readEvent.timestamp_tick).toBe(h.net.membership.current().startTick)
  })
})
