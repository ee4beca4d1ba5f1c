import { afterEach, describe, expect, it } from 'vitest'
import {
  afterTest,
  engineOn,
  expectOk,
  findObject,
  type Harness,
  wrapAll,
} from './consistency-claims-helpers.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

// A read of the latest asks the homes for their latest records; when q of them give the same record,
// that version is decided and no second round asks the same homes for it again (catalogue.ts).

let h: Harness | undefined
const undo: Array<() => void> = []
afterEach(async () => {
  h = await afterTest(h, undo)
})

function watchRecordAsks(net: Harness['net']): Array<{ node: string; version: unknown }> {
  const asks: Array<{ node: string; version: unknown }> = []
  undo.push(
    wrapAll(net.transport, 'getRecord', (original, node, ...rest) => {
      asks.push({ node, version: rest[1] })
      return original(node, ...rest)
    }),
  )
  return asks
}

/** Versions 1 and 2 of an object none of whose homes is node-1, the third home down while 2 was written. */
async function homeMissingVersion2(label: string) {
  const net = await inProcessHarness(5)
  h = net
  const p = findObject(net.nodeIds, label, (o) => !o.homes.includes('node-1'))
  const lagging = p.homes[2]!
  expectOk(await net.engine('node-1').putContent(p.oid, 1, bytesOf('v1', 3000), meta(1)))
  await net.setDown(lagging, true)
  const v2 = await net.engine('node-1').putContent(p.oid, 2, bytesOf('v2', 3000), meta(2))
  expect(v2.ok || v2.code === 'QUORUM_NOT_REACHED').toBe(true)
  await net.setDown(lagging, false)
  return { net, p, lagging }
}

/** Read repair runs in the background: `home` holds version 2 within half a second. */
async function expectCaughtUp(oid: string, home: string) {
  const held = () => h!.net.node(home).store.getRecord(oid, 2)
  for (let i = 0; i < 50 && (await held()) === undefined; i++) await new Promise((r) => setTimeout(r, 10))
  expect((await held())?.record.version).toBe(2)
}

describe('a read of the latest', () => {
  it('asks each home once when a majority give the same latest record', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'latest-once', () => true)
    expectOk(await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, bytesOf('v1', 3000), meta(1)))
    expectOk(await h.engine(h.nodeIds[0]!).putContent(p.oid, 2, bytesOf('v2', 3000), meta(2)))
    const asks = watchRecordAsks(h.net)
    const got = await engineOn(h, h.nodeIds[1]!).getContent(p.oid)
    expect(got.ok && got.version === 2).toBe(true)
    expect(asks.map((a) => a.version)).toEqual(['latest', 'latest', 'latest'])
    expect(asks.map((a) => a.node).sort()).toEqual([...p.homes].sort())
  })

  it('catches up a home that missed the version and whose latest answer failed', async () => {
    const { net, p, lagging } = await homeMissingVersion2('latest-failed')
    // Its first record request fails (a transient error); it answers again after that.
    let failed = false
    undo.push(
      wrapAll(net.net.transport, 'getRecord', (original, node, ...rest) => {
        if (node === lagging && !failed) {
          failed = true
          return Promise.reject(Object.assign(new Error('transient'), { code: 'NODE_UNAVAILABLE' }))
        }
        return original(node, ...rest)
      }),
    )
    const got = await engineOn(net, 'node-1').getContent(p.oid)
    expect(got.ok && got.version === 2).toBe(true)
    expect(failed).toBe(true)
    await expectCaughtUp(p.oid, lagging)
  })

  it('still catches up a home that missed the version it reads', async () => {
    const { net, p, lagging } = await homeMissingVersion2('latest-repair')
    expect(await net.net.node(lagging).store.getRecord(p.oid, 2)).toBeUndefined()
    const got = await engineOn(net, 'node-1').getContent(p.oid)
    expect(got.ok && got.version === 2).toBe(true)
    await expectCaughtUp(p.oid, lagging)
  })
})

describe('the preflight of an update', () => {
  it('asks each home once, for its latest, and for the version only where the latest is above it', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'preflight-once', () => true)
    const writer = h.engine(h.nodeIds[0]!)
    expectOk(await writer.putContent(p.oid, 1, bytesOf('v1', 3000), meta(1)))
    const asks = watchRecordAsks(h.net)
    expectOk(await writer.putContent(p.oid, 2, bytesOf('v2', 3000), meta(2)))
    expect(asks.map((a) => a.version)).toEqual(['latest', 'latest', 'latest'])
    expectOk(await writer.putContent(p.oid, 3, bytesOf('v3', 3000), meta(3)))
    // The same version 2 again (a retry after an unknown outcome): every home's latest is 3, so
    // each is asked for version 2 too, and the write completes as the idempotent repeat it is.
    asks.length = 0
    const again = await writer.putContent(p.oid, 2, bytesOf('v2', 3000), meta(2))
    expectOk(again)
    expect(asks.filter((a) => a.version === 'latest')).toHaveLength(3)
    expect(
      asks
        .filter((a) => a.version === 2)
        .map((a) => a.node)
        .sort(),
    ).toEqual([...p.homes].sort())
  })
})
