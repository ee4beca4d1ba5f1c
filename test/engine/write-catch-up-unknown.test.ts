import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { EligibleSet } from '../../src/core/placement.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

type Harness = Awaited<ReturnType<typeof inProcessHarness>>

/**
 * A write whose decide step must first catch up a lagging home, while another home is down, cannot
 * tell the earlier version's decided record: that is "too few homes answered" (QUORUM_NOT_REACHED,
 * retry: docs/sdk.md "Failures"), never NOT_FOUND ("fix the request"). Found by
 * test/e2e/devnet-crash.test.ts: a writer's version 3 answered NOT_FOUND "version 1 of ... has no
 * majority to catch up from" through every coordinator while one daemon was down, and the same
 * write succeeded once it was back.
 */
describe('a write that cannot catch up a lagging home while another home is down', () => {
  let h: Harness
  beforeAll(async () => {
    h = await inProcessHarness(5)
  })
  afterAll(async () => {
    await h?.close()
  })

  it('answers QUORUM_NOT_REACHED, and the identical write succeeds once the home is back', async () => {
    const oid = objectId('write-catch-up', 'unknown')
    const [h1, h2, h3] = new EligibleSet(h.nodeIds).catalogueHomes(oid, 3) as [string, string, string]
    const e = h.engine(h.nodeIds.find((n) => ![h1, h2, h3].includes(n))!)
    // h3 misses version 1 (h1 and h2 decide it) and nothing catches it up: no read follows.
    await h.setDown(h3, true)
    expect(await e.putContent(oid, 1, bytesOf('wcu-1', 3000), meta(1))).toMatchObject({ ok: true })
    await h.setDown(h3, false)
    expect(await h.net.node(h3).service.getRecord(oid, 1)).toBeUndefined()
    // Version 2 with h2 away: h1 takes it, h3 refuses the gap, and only h1 can vouch for version 1.
    await h.setDown(h2, true)
    const bytes = bytesOf('wcu-2', 3000)
    try {
      expect(await e.putContent(oid, 2, bytes, meta(2))).toMatchObject({
        ok: false,
        error_code: 'SE_ERR_NO_ELIGIBLE_NODES',
        code: 'QUORUM_NOT_REACHED',
      })
    } finally {
      await h.setDown(h2, false)
    }
    expect(await e.putContent(oid, 2, bytes, meta(2))).toMatchObject({ ok: true, version: 2 })
  })
})
