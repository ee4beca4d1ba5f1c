import { afterEach, describe, expect, it } from 'vitest'
import { confirmVersion } from '../../src/sdk/confirm.js'
import { engineOn, expectOk, findObject, type Harness } from './consistency-claims-helpers.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

/**
 * A listing of one object (a full-length prefix) whose homes mostly did not answer cannot tell
 * whether the object has versions: it answers QUORUM_NOT_REACHED, as a read by number does
 * (docs/consistency.md "What a reader sees"), rather than an empty page that reads as "none".
 */
describe('a listing of one object with a majority of its homes away', () => {
  let h: Harness | undefined
  afterEach(async () => {
    await h?.close()
    h = undefined
  })

  it('answers QUORUM_NOT_REACHED, written or not, and lists again once a majority is back', async () => {
    h = await inProcessHarness(5)
    const written = findObject(h.nodeIds, 'away-written', () => true)
    const writer = h.nodeIds.find((n) => !written.homes.includes(n))!
    expectOk(await h.engine(writer).putContent(written.oid, 1, bytesOf('away', 2000), meta(1)))
    const [h1, h2, h3] = written.homes as [string, string, string]
    const reader = engineOn(h, writer)
    // One home away: the other two still list it.
    await h.setDown(h1, true)
    expect(await reader.listObjects({ prefix: written.oid })).toMatchObject({
      ok: true,
      objects: [{ object_id: written.oid, version: 1 }],
    })
    // Two away: whatever they hold, nothing of this epoch could be listed.
    await h.setDown(h2, true)
    const away = await reader.listObjects({ prefix: written.oid })
    expect(away).toMatchObject({
      ok: false,
      code: 'QUORUM_NOT_REACHED',
      error_code: 'SE_ERR_NO_ELIGIBLE_NODES',
    })
    if (!away.ok) expect(away.error_detail).toContain('2 of the object')
    // Past the last version, or through a filter nothing matches: the same, as either could hide one.
    for (const filters of [
      { prefix: written.oid, after: { object_id: written.oid, version: 1 } },
      { prefix: written.oid, tag: 'nothing-has-this' },
    ]) {
      expect(await reader.listObjects(filters)).toMatchObject({ ok: false, code: 'QUORUM_NOT_REACHED' })
    }
    await h.setDown(h1, false)
    expect(await reader.listObjects({ prefix: written.oid })).toMatchObject({
      ok: true,
      objects: [{ version: 1 }],
    })
    await h.setDown(h2, false)
    expect(h3).toBeDefined()
  })

  it('an object never written: an empty page with its homes up, QUORUM_NOT_REACHED with two away', async () => {
    h = await inProcessHarness(5)
    const never = findObject(h.nodeIds, 'away-never', () => true)
    const asker = h.nodeIds.find((n) => !never.homes.includes(n))!
    const reader = engineOn(h, asker)
    expect(await reader.listObjects({ prefix: never.oid })).toMatchObject({
      ok: true,
      objects: [],
      next_cursor: null,
    })
    await h.setDown(never.homes[0]!, true)
    expect(await reader.listObjects({ prefix: never.oid })).toMatchObject({ ok: true, objects: [] })
    await h.setDown(never.homes[1]!, true)
    expect(await reader.listObjects({ prefix: never.oid })).toMatchObject({
      ok: false,
      code: 'QUORUM_NOT_REACHED',
    })
    // A listing of everything is no listing of one object: the nodes that answered are listed from.
    expect(await reader.listObjects({})).toMatchObject({ ok: true })
  })

  it('so confirming a version whose homes are away says why, instead of "does not list it"', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'away-confirm', () => true)
    const others = h.nodeIds.filter((n) => !p.homes.includes(n))
    const put = await h.engine(others[0]!).putContent(p.oid, 1, bytesOf('away-confirm', 100), meta(1))
    expectOk(put)
    await h.setDown(p.homes[0]!, true)
    await h.setDown(p.homes[1]!, true)
    const answer = await confirmVersion(
      others.map((n) => h!.engine(n)),
      put,
    )
    expect(answer).toMatchObject({
      ok: true,
      confirmed: false,
      answers: others.map(() => ({ code: 'QUORUM_NOT_REACHED' })),
    })
  })
})
