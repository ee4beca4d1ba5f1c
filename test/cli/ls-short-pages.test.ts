import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { JsonObject } from '../../src/net/frames.js'
import { fixture, type StubNode, stubNode } from '../sdk/stub.js'
import { runCli } from './run.js'

/**
 * A node's listing stops after a scan budget (docs/protocol.md 4.5): a page may hold fewer objects
 * than `limit`, none at all, with a `next_cursor` past its last object. `ls` must keep paging on such
 * pages and never take a short page for the end.
 */
describe('qfs-node ls over pages cut short by the scan budget', () => {
  let stub: StubNode
  const BUDGET = 2
  // 12 versions; every third carries the tag asked for, so most budget-sized windows hold none.
  const catalogue = Array.from({ length: 12 }, (_, i) => {
    const f = fixture(`ls-short-${i}`, 10, { tags: i % 3 === 0 ? ['keep'] : ['other'] })
    return {
      object_id: f.oid,
      version: 1,
      kind: 'STORE',
      hash_commit: f.record.hash_commit,
      content_size: 10,
      created_at_tick: 7,
      metadata: f.metadata as unknown as JsonObject,
    }
  }).sort((a, b) => (a.object_id < b.object_id ? -1 : 1))
  const kept = catalogue.filter((o) => (o.metadata.tags as string[]).includes('keep'))
  let pages = 0

  beforeAll(async () => {
    stub = await stubNode(2300)
    // The node examines BUDGET entries after the cursor; the page ends at the last one examined.
    stub.behaviour.list = (request) => {
      pages++
      const filters = (request.filters ?? {}) as { after?: { object_id: string }; tag?: string }
      const start =
        filters.after === undefined
          ? 0
          : catalogue.findIndex((o) => o.object_id === filters.after!.object_id) + 1
      const examined = catalogue.slice(start, start + BUDGET)
      const objects = examined.filter(
        (o) => filters.tag === undefined || (o.metadata.tags as string[]).includes(filters.tag),
      )
      const last = examined[examined.length - 1]
      const more = start + BUDGET < catalogue.length && last !== undefined
      return {
        objects,
        next_cursor: more ? { object_id: last.object_id, version: last.version } : null,
      }
    }
  })
  afterAll(async () => stub?.close())

  it('follows next_cursor across short and empty pages with --all, to exactly the matches', async () => {
    pages = 0
    const r = await runCli(['ls', '--node', stub.address, '--tag', 'keep', '--all', '--json'])
    expect(r.status).toBe(0)
    const doc = JSON.parse(r.stdout) as { objects: Array<{ object_id: string }>; next_cursor: unknown }
    expect(doc.objects.map((o) => o.object_id)).toEqual(kept.map((o) => o.object_id))
    expect(doc.next_cursor).toBeNull()
    expect(pages).toBe(catalogue.length / BUDGET)
  })

  it('announces the cursor of a page that holds nothing yet, rather than ending', async () => {
    // The first window holds a match only if the first entry is one; find a page with none.
    const emptyAt = [0, 2, 4, 6, 8, 10].find(
      (i) => !catalogue.slice(i, i + BUDGET).some((o) => kept.includes(o)),
    )!
    const after = catalogue[emptyAt - 1]
    const args = ['ls', '--node', stub.address, '--tag', 'keep']
    if (after !== undefined) args.push('--after', `${after.object_id}:1`)
    const r = await runCli(args)
    expect(r.status).toBe(0)
    expect(r.stdout).toBe('')
    const stop = catalogue[emptyAt + BUDGET - 1]!
    expect(r.stderr).toBe(`more: --after ${stop.object_id}:1\n`)
  })
})
