import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import type { EventFields } from '../../src/log/index.js'
import type { MiniNetwork } from '../../src/node/mini-network.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

/**
 * A buffered read (getContent) that fails after its record was resolved and logged, while the bytes
 * flow: its answer names the READ event the call left, as every answer names its call's one event.
 */
describe('getContent failing while its bytes flow', () => {
  let net: MiniNetwork
  beforeAll(async () => {
    net = (await inProcessHarness(5)).net
  })
  afterAll(async () => {
    await net?.close()
  })

  it('answers the READ event of the call, not null', async () => {
    const oid = objectId('get-content', 'late-failure')
    const size = 2 * 1024 * 1024
    expect((await net.engine('node-1').putContent(oid, 1, bytesOf('late', size), meta(1))).ok).toBe(true)
    // Every replica serves its first block as stored and a changed one after it.
    net.transport.tamper = (_node, _shard, index, block) => {
      if (index === 0) return block
      const bad = block.slice()
      bad[0] = bad[0]! ^ 1
      return bad
    }
    const append = vi.spyOn(net.node('node-2').log, 'append')
    try {
      const r = await net.engine('node-2').getContent(oid, 1)
      expect(r.ok).toBe(false)
      if (r.ok) return
      const logged = await Promise.all(
        append.mock.results.map((x) => x.value as Promise<{ event_id: string }>),
      )
      const reads = append.mock.calls
        .map(([fields], i) => ({ type: (fields as EventFields).event_type, id: logged[i]!.event_id }))
        .filter((e) => e.type === 'READ')
      expect(reads).toHaveLength(1)
      expect(r.storage_event_id).toBe(reads[0]!.id)
    } finally {
      net.transport.tamper = undefined
      append.mockRestore()
    }
  })
})
