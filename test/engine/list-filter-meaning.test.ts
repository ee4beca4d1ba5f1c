/**
 * The meaning docs/protocol.md 4.5 gives each `list_objects` filter, at the points a client in
 * another language could read otherwise: a tag is normalized as in 4.1 before comparing (and one that
 * normalizes to nothing matches nothing), an author is compared exactly, `tick_from > tick_to` is an
 * empty listing rather than a refusal, an `after` of version 0 starts at version 1, and a prefix of
 * odd length fixes the high nibble of its last byte. The written objects are the oracle.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import type { ListResponse } from '../../src/engine/responses.js'
import { type EngineHarness, inProcessHarness } from './harness.js'

/** Objects with chosen ids' first hex digits: 3 of them under "ab", one each under "ac" and "b0". */
const ids = (() => {
  const wanted = ['ab0', 'ab8', 'abf', 'ac', 'b0']
  const found = new Map<string, string>()
  for (let i = 0; found.size < wanted.length; i++) {
    const id = objectId('list-meaning', String(i))
    const key = wanted.find((w) => id.startsWith(w) && !found.has(w))
    if (key !== undefined) found.set(key, id)
  }
  return wanted.map((w) => found.get(w)!)
})()

describe('list_objects filters mean what docs/protocol.md 4.5 says', () => {
  let h: EngineHarness
  const list = async (filters: Record<string, unknown>) => {
    const page = (await h.engine(h.nodeIds[1]!).listObjects(filters)) as ListResponse
    if (!page.ok) throw new Error(`listing refused: ${page.code}`)
    return page.objects.map((o) => `${o.object_id.slice(0, 3)}:${o.version}`)
  }
  const short = (id: string, version: number) => `${id.slice(0, 3)}:${version}`

  beforeAll(async () => {
    h = await inProcessHarness(4)
    const e = h.engine(h.nodeIds[0]!)
    const tags = [['Holiday'], ['cats'], [], [], []]
    for (const [i, id] of ids.entries()) {
      const meta = { author_node_id: i === 1 ? 'Alice' : 'alice', created_at_tick: 10 + i, tags: tags[i] }
      expect((await e.putContent(id, 1, new Uint8Array([i]), meta)).ok).toBe(true)
    }
    expect(
      (await e.putContent(ids[0]!, 2, new Uint8Array([9]), { author_node_id: 'alice', created_at_tick: 20 }))
        .ok,
    ).toBe(true)
  })
  afterAll(async () => {
    await h?.close()
  })

  it('normalizes a tag before comparing: " HOLIDAY\\u3000" finds "Holiday"; one that normalizes to nothing finds nothing', async () => {
    expect(await list({ tag: ' HOLIDAY\u3000' })).toEqual([short(ids[0]!, 1)])
    expect(await list({ tag: '\u3000 \u0085' })).toEqual([])
  })

  it('compares author exactly: "alice" is not "Alice", nor " alice"', async () => {
    expect(await list({ author: 'Alice' })).toEqual([short(ids[1]!, 1)])
    expect(await list({ author: ' alice' })).toEqual([])
    expect(await list({ author: 'alice' })).toHaveLength(5)
  })

  it('answers tick_from > tick_to with an empty page, not a refusal; both bounds inclusive', async () => {
    expect(await list({ tick_from: 13, tick_to: 11 })).toEqual([])
    expect(await list({ tick_from: 11, tick_to: 12 })).toEqual([short(ids[1]!, 1), short(ids[2]!, 1)])
  })

  it('starts an after of version 0 at version 1 of that object', async () => {
    expect(await list({ after: { object_id: ids[0]!, version: 0 }, limit: 2 })).toEqual([
      short(ids[0]!, 1),
      short(ids[0]!, 2),
    ])
  })

  it('takes a prefix of odd length: "ab" then one more hex digit fixes the high nibble', async () => {
    expect(await list({ prefix: 'ab' })).toEqual([
      short(ids[0]!, 1),
      short(ids[0]!, 2),
      short(ids[1]!, 1),
      short(ids[2]!, 1),
    ])
    expect(await list({ prefix: 'ab8' })).toEqual([short(ids[1]!, 1)])
    expect(await list({ prefix: 'a' })).toHaveLength(5)
    expect(await list({ prefix: '' })).toHaveLength(6)
  })
})
