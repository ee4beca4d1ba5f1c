import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { DeterministicTime } from '../../src/core/time.js'
import { StorageEngine } from '../../src/engine/engine.js'
import type { ListResponse } from '../../src/engine/responses.js'
import type { MiniNetwork } from '../../src/node/mini-network.js'
import { inProcessHarness } from './harness.js'
import { bytesOf } from './suite.js'

type Key = { object_id: string; version: number }
interface Written extends Key {
  tags: string[]
  author: string
  tick: number
}

const TAGS = ['red', 'green', 'blue']
const AUTHORS = ['ann', 'bob']
const byKey = (a: Key, b: Key) =>
  a.object_id < b.object_id ? -1 : a.object_id > b.object_id ? 1 : a.version - b.version

function expectOk<T extends { ok: boolean }>(r: T): asserts r is Extract<T, { ok: true }> {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r)}`)
}

/**
 * list_objects through the coordinator with a small scan budget per node: pages come back short
 * (even empty) with a cursor, and following cursors yields exactly what an unbounded scan would.
 */
describe('list_objects under a scan budget (engine, in process)', () => {
  let net: MiniNetwork
  let close: () => Promise<void>
  const written: Written[] = []
  const coordinator = (budget: number, pageBytes?: number) => {
    const id = net.membership.current().eligible.nodes[0]!
    const node = net.node(id)
    return new StorageEngine(
      {
        nodeId: id,
        transport: net.transport,
        membership: net.membership,
        log: node.log,
        time: new DeterministicTime(),
      },
      { listScanBudget: budget, listPageBytes: pageBytes },
    )
  }

  beforeAll(async () => {
    const h = await inProcessHarness(5)
    net = h.net
    close = h.close
    const e = h.engine(h.nodeIds[1]!)
    for (let i = 0; i < 24; i++) {
      const oid = objectId('budget', `o-${i}`)
      for (let v = 1; v <= 1 + (i % 2); v++) {
        const w = {
          object_id: oid,
          version: v,
          tags: TAGS.filter((_, t) => (i + v + t) % 3 === 0),
          author: AUTHORS[(i + v) % 2]!,
          tick: (i * 5 + v) % 40,
        }
        const meta = { author_node_id: w.author, created_at_tick: w.tick, tags: w.tags }
        expectOk(await e.putContent(oid, v, bytesOf(`budget-${i}-${v}`, 40), meta))
        written.push(w)
      }
    }
    written.sort(byKey)
  })
  afterAll(async () => close?.())

  it('answers a filter that matches nothing with a short page and a cursor, never the end at once', async () => {
    const first = await coordinator(2).listObjects({ tag: 'nobody' })
    expectOk(first)
    expect(first.objects).toEqual([])
    expect(first.next_cursor).not.toBeNull()
    // A budget above the catalogue's size: the same listing ends in one page.
    const whole = await coordinator(1_000).listObjects({ tag: 'nobody' })
    expect(whole).toMatchObject({ ok: true, objects: [], next_cursor: null })
  })

  it('visits every match exactly once by following next_cursor, whatever the budgets (property)', async () => {
    const filters = fc.record(
      {
        tag: fc.constantFrom(...TAGS, 'Red', 'nobody'),
        author: fc.constantFrom(...AUTHORS),
        tick_from: fc.nat({ max: 40 }),
        tick_to: fc.nat({ max: 40 }),
        prefix: fc.constantFrom('', '0', 'a', 'f'),
      },
      { requiredKeys: [] },
    )
    await fc.assert(
      fc.asyncProperty(
        filters,
        fc.constantFrom(1, 2, 4, 10_000),
        fc.constantFrom(1, 2, 3, 5, 40),
        // Bytes for the whole page: from one byte (every node stops after its first record) to
        // enough for each node to answer a few records, and the default.
        fc.option(fc.integer({ min: 1, max: 12_000 }), { nil: undefined }),
        async (f, budget, limit, pageBytes) => {
          const engine = coordinator(budget, pageBytes)
          const expected = written
            .filter(
              (w) =>
                (f.tag === undefined || w.tags.includes(f.tag.toLowerCase())) &&
                (f.author === undefined || w.author === f.author) &&
                (f.tick_from === undefined || w.tick >= f.tick_from) &&
                (f.tick_to === undefined || w.tick <= f.tick_to) &&
                (f.prefix === undefined || w.object_id.startsWith(f.prefix)),
            )
            .map((w) => ({ object_id: w.object_id, version: w.version }))
          const got: Key[] = []
          let after: Key | undefined
          for (let pages = 0; pages < 200; pages++) {
            const page: ListResponse = await engine.listObjects({ ...f, limit, after })
            expectOk(page)
            expect(page.objects.length).toBeLessThanOrEqual(limit)
            got.push(...page.objects.map((o) => ({ object_id: o.object_id, version: o.version })))
            if (page.next_cursor === null) break
            if (after !== undefined) expect(byKey(page.next_cursor, after)).toBeGreaterThan(0)
            after = page.next_cursor
          }
          expect(got).toEqual(expected)
        },
      ),
      { seed: 20260312, numRuns: 40 },
    )
  })

  it('ends a page where the nodes ran out of bytes, short of limit, and pages on from there', async () => {
    // One byte for the page: every node answers only its first record after the cursor.
    const engine = coordinator(10_000, 1)
    const first = await engine.listObjects({ limit: 1000 })
    expectOk(first)
    expect(first.objects.length).toBeGreaterThan(0)
    expect(first.objects.length).toBeLessThan(written.length)
    expect(first.next_cursor).not.toBeNull()
    const all: Key[] = []
    let page: ListResponse = first
    for (let pages = 0; pages < 100; pages++) {
      expectOk(page)
      all.push(...page.objects.map((o) => ({ object_id: o.object_id, version: o.version })))
      if (page.next_cursor === null) break
      page = await engine.listObjects({ limit: 1000, after: page.next_cursor })
    }
    expect(all).toEqual(written.map((w) => ({ object_id: w.object_id, version: w.version })))
    // The default budget holds this whole catalogue: one page, the end.
    const whole = await coordinator(10_000).listObjects({ limit: 1000 })
    expectOk(whole)
    expect(whole.objects).toHaveLength(written.length)
    expect(whole.next_cursor).toBeNull()
  })

  it('refuses a malformed budget at construction', () => {
    expect(() => coordinator(0)).toThrow(TypeError)
    expect(() => coordinator(1.5)).toThrow(TypeError)
    expect(() => coordinator(1, 0)).toThrow(TypeError)
    expect(() => coordinator(1, 2.5)).toThrow(TypeError)
  })
})
