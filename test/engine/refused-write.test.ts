import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import type { StorageEngineApi } from '../../src/engine/api.js'
import { readCounters } from '../../src/store/counters.js'
import type { StoreSublevels } from '../../src/store/db.js'
import { libp2pHarness } from '../net/harness.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

/**
 * A small write stages while its homes are asked whether the version may be written; a refusal must
 * then take back what was staged, on every node, before the writer hears it.
 */
interface Network {
  nodeIds: string[]
  engine(nodeId: string): StorageEngineApi
  sublevels(nodeId: string): StoreSublevels
  close(): Promise<void>
}

const networks: Array<[string, () => Promise<Network>]> = [
  [
    'in process',
    async () => {
      const h = await inProcessHarness(5)
      return { ...h, sublevels: (id) => h.net.node(id).store.sublevels }
    },
  ],
  [
    'over libp2p (small shards go inline on the replica channel)',
    async () => {
      const h = await libp2pHarness(5)
      return { ...h, sublevels: (id) => h.locals.get(id)!.store.sublevels }
    },
  ],
]

describe.each(networks)('a refused write, %s', (_name, make) => {
  let net: Network
  beforeAll(async () => {
    net = await make()
  })
  afterAll(async () => net?.close())

  const staged = () =>
    Promise.all(net.nodeIds.map(async (id) => (await readCounters(net.sublevels(id))).staged))

  it('leaves nothing staged on any node, for a conflict and for a gap', async () => {
    const oid = objectId('refused', 'small')
    const e = net.engine(net.nodeIds[0]!)
    const zeros = net.nodeIds.map(() => 0)
    expect((await e.putContent(oid, 1, bytesOf('one', 3000), meta(1))).ok).toBe(true)
    expect(await staged()).toEqual(zeros)
    const conflict = await e.putContent(oid, 1, bytesOf('other', 3000), meta(1))
    expect(conflict).toMatchObject({ ok: false, code: 'VERSION_CONFLICT' })
    expect(await staged()).toEqual(zeros)
    const gap = await e.putContent(oid, 3, bytesOf('three', 3000), meta(3))
    expect(gap).toMatchObject({ ok: false, error_code: 'SE_ERR_INVALID_VERSION' })
    expect(await staged()).toEqual(zeros)
  })
})
