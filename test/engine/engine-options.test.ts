import { afterEach, describe, expect, it, vi } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { EligibleSet } from '../../src/core/placement.js'
import type { MiniNetwork } from '../../src/node/mini-network.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

/**
 * What the StorageEngine makes of its components and options (engine.ts): the request deadline it
 * is given, and a record of peer health of its own when none is handed to it.
 */

let net: MiniNetwork | undefined
afterEach(async () => {
  await net?.close()
  net = undefined
})

describe('StorageEngine options that reach the calls', () => {
  it('answers within its own request deadline, not the default 10 s, when every home is frozen', async () => {
    const h = await inProcessHarness(5, { requestMs: 200 })
    net = h.net
    const frozen = (_n: string, _o: string, _v: unknown, options?: { signal?: AbortSignal }) =>
      new Promise<never>((_, reject) => {
        options?.signal?.addEventListener('abort', () => reject(options.signal?.reason), { once: true })
      })
    vi.spyOn(h.net.transport, 'getRecord').mockImplementation(frozen as never)
    const started = performance.now()
    const r = await h.engine('node-1').getContent(objectId('engine-options', 'frozen'))
    expect(r.ok).toBe(false)
    expect(performance.now() - started).toBeLessThan(5_000)
  })

  it('keeps its own record of peers that failed, so a read tries a replica that just failed last', async () => {
    const h = await inProcessHarness(5)
    net = h.net
    const eligible = new EligibleSet(h.nodeIds)
    // An object whose shard 0 has the coordinator as no replica, so the read asks peers only.
    let oid = ''
    let replicas: string[] = []
    for (let i = 0; replicas.length === 0 || replicas.includes('node-1'); i++) {
      oid = objectId('engine-options', `order-${i}`)
      replicas = eligible.place(shardId(oid, 1, 0), 3).selected
    }
    const shard0 = shardId(oid, 1, 0)
    expect((await h.engine('node-1').putContent(oid, 1, bytesOf('order', 2000), meta(1))).ok).toBe(true)
    const first = replicas[0]!
    const asked: string[] = []
    const fetch = h.net.transport.fetchShard.bind(h.net.transport)
    vi.spyOn(h.net.transport, 'fetchShard').mockImplementation((node, id, from, options) => {
      if (id === shard0) asked.push(node)
      return fetch(node, id, from, options)
    })
    h.net.transport.setDown(first, true)
    expect((await h.engine('node-1').getContent(oid, 1)).ok).toBe(true)
    h.net.transport.setDown(first, false)
    asked.length = 0
    expect((await h.engine('node-1').getContent(oid, 1)).ok).toBe(true)
    // The failed replica, first in placement order, is now asked after a healthy one.
    expect(asked[0]).not.toBe(first)
  })
})
