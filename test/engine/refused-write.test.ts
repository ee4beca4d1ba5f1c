import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import type { MiniNetwork } from '../../src/node/mini-network.js'
import { readCounters } from '../../src/store/counters.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

/**
 * A small write stages while its homes are asked whether the version may be written; a refusal must
 * then take back what was staged, on every node, before the writer hears it.
 */
describe('a refused write', () => {
  let net: MiniNetwork
  let nodeIds: string[]
  beforeAll(async () => {
    const h = await inProcessHarness(5)
    net = h.net
    nodeIds = h.nodeIds
  })
  afterAll(async () => net?.close())

  const staged = () =>
    Promise.all(nodeIds.map(async (id) => (await readCounters(net.node(id).store.sublevels)).staged))

  it('leaves nothing staged on any node, for a conflict and for a gap', async () => {
    const oid = objectId('refused', 'small')
    const e = net.engine(nodeIds[0]!)
    expect((await e.putContent(oid, 1, bytesOf('one', 3000), meta(1))).ok).toBe(true)
    expect(await staged()).toEqual(nodeIds.map(() => 0))
    const conflict = await e.putContent(oid, 1, bytesOf('other', 3000), meta(1))
    expect(conflict).toMatchObject({ ok: false, code: 'VERSION_CONFLICT' })
    expect(await staged()).toEqual(nodeIds.map(() => 0))
    const gap = await e.putContent(oid, 3, bytesOf('three', 3000), meta(3))
    expect(gap).toMatchObject({ ok: false, error_code: 'SE_ERR_INVALID_VERSION' })
    expect(await staged()).toEqual(nodeIds.map(() => 0))
  })
})
