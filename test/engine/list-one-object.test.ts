import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { recordWireBytes } from '../../src/core/record.js'
import { DeterministicTime } from '../../src/core/time.js'
import { StorageEngine } from '../../src/engine/engine.js'
import { byteShares } from '../../src/engine/list.js'
import type { MiniNetwork } from '../../src/node/mini-network.js'
import { inProcessHarness } from './harness.js'
import { bytesOf } from './suite.js'

describe('byteShares', () => {
  it('gives every node at least 1 byte, and the homes, when given, the page between them (property)', () => {
    const ids = Array.from({ length: 40 }, (_, i) => `n-${i}`)
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 1 << 24 }),
        fc.option(fc.integer({ min: 1, max: 7 }), { nil: undefined }),
        (n, pageBytes, homeCount) => {
          const nodes = ids.slice(0, n)
          const homes = homeCount === undefined ? undefined : nodes.slice(0, Math.min(homeCount, n))
          const shares = byteShares(nodes, pageBytes, homes)
          const sharers = homes ?? nodes
          expect([...shares.keys()]).toEqual(nodes)
          for (const node of nodes) {
            const share = shares.get(node)!
            expect(share).toBeGreaterThanOrEqual(1)
            if (!sharers.includes(node)) expect(share).toBe(1)
            else expect(share).toBe(Math.max(1, Math.floor(pageBytes / sharers.length)))
          }
          // Past the page only by the 1 byte each node gets at least.
          let total = 0
          for (const share of shares.values()) total += share
          expect(total).toBeLessThanOrEqual(Math.max(pageBytes, sharers.length) + (n - sharers.length))
        },
      ),
      { seed: 20261127, numRuns: 300 },
    )
  })
})

/**
 * A listing of one object's versions (a full-length prefix, as latestVersion and metadata queries
 * send) shares the page's bytes among the object's homes only, the nodes that can hold its records.
 */
describe('listing one object under a byte budget (engine, in process)', () => {
  let net: MiniNetwork
  let close: () => Promise<void>
  const oid = objectId('one-object', 'many-versions')
  const VERSIONS = 12
  let largest = 0

  beforeAll(async () => {
    const h = await inProcessHarness(5)
    net = h.net
    close = h.close
    const writer = h.engine(h.nodeIds[0]!)
    for (let v = 1; v <= VERSIONS; v++) {
      const put = await writer.putContent(oid, v, bytesOf(`v${v}`, 30), {
        author_node_id: 'one',
        created_at_tick: v,
      })
      expect(put.ok).toBe(true)
    }
    const home = net.membership.current().eligible.catalogueHomes(oid, 3)[0]!
    for (const r of await net.node(home).service.listRecords({ prefix: oid, limit: 100 })) {
      largest = Math.max(largest, recordWireBytes(r))
    }
  })
  afterAll(async () => close?.())

  const coordinator = (pageBytes: number) => {
    const id = net.membership.current().eligible.nodes[0]!
    return new StorageEngine(
      {
        nodeId: id,
        transport: net.transport,
        membership: net.membership,
        log: net.node(id).log,
        time: new DeterministicTime(),
      },
      { listPageBytes: pageBytes },
    )
  }

  it('fills a page with what each home may answer, not what an even share among all nodes allows', async () => {
    // Each of the 3 homes may answer 4 of the largest records: every page holds at least 4 versions.
    // Shared evenly among the 5 nodes, each home could answer only 12/5 of them: pages of 3.
    const engine = coordinator(3 * 4 * largest)
    const versions: number[] = []
    let after: { object_id: string; version: number } | undefined
    for (let pages = 0; pages < 20; pages++) {
      const page = await engine.listObjects({ prefix: oid, limit: 1000, after })
      if (!page.ok) throw new Error(JSON.stringify(page))
      if (page.next_cursor !== null) expect(page.objects.length).toBeGreaterThanOrEqual(4)
      versions.push(...page.objects.map((o) => o.version))
      if (page.next_cursor === null) break
      after = page.next_cursor
    }
    expect(versions).toEqual(Array.from({ length: VERSIONS }, (_, i) => i + 1))
  })
})
