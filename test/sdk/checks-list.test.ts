import { describe, expect, it } from 'vitest'
import type { ListSuccess, ObjectSummary } from '../../src/engine/responses.js'
import { checkListing, type ListExpectation } from '../../src/sdk/checks.js'
import { fixture } from './stub.js'

/** checkListing on its own: each way a page can break its filters, its order or its cursor, alone. */
describe('checkListing', () => {
  const summary = (label: string, version = 1, extra: Record<string, unknown> = {}): ObjectSummary => {
    const x = fixture(label, 10, extra)
    return {
      object_id: x.oid,
      version,
      kind: 'STORE',
      hash_commit: x.record.hash_commit,
      content_size: 10,
      created_at_tick: x.metadata.created_at_tick,
      metadata: x.metadata,
    }
  }
  // Sorted by object_id; the fixtures' metadata: author of meta(7), created_at_tick 7.
  const objects = ['list-1', 'list-2', 'list-3']
    .map((l) => summary(l))
    .sort((a, b) => (a.object_id < b.object_id ? -1 : 1))
  const [a, b, c] = objects as [ObjectSummary, ObjectSummary, ObjectSummary]
  const page = (objs: ObjectSummary[], next_cursor: ListSuccess['next_cursor'] = null): ListSuccess => ({
    ok: true,
    objects: objs,
    next_cursor,
    storage_event_id: 'ab'.repeat(32),
  })
  const key = (o: ObjectSummary) => ({ object_id: o.object_id, version: o.version })
  const all: ListExpectation = { limit: 100 }

  it('accepts an honest page, with and without a cursor', () => {
    expect(checkListing(page(objects), all)).toBeUndefined()
    expect(checkListing(page(objects, key(c)), all)).toBeUndefined()
    expect(checkListing(page([a, { ...a, version: 2 }]), all)).toBeUndefined()
  })

  it('refuses one object more than the limit, and takes exactly the limit', () => {
    expect(checkListing(page(objects), { limit: 2 })).toMatch(/exceeds limit/)
    expect(checkListing(page(objects), { limit: 3 })).toBeUndefined()
  })

  it('refuses a repeated entry, a version going back, and an entry not past `after`', () => {
    expect(checkListing(page([a, a]), all)).toMatch(/sorted/)
    expect(checkListing(page([{ ...a, version: 2 }, a]), all)).toMatch(/sorted/)
    expect(checkListing(page([b, a]), all)).toMatch(/sorted/)
    expect(checkListing(page([b, c]), { limit: 100, after: key(b) })).toMatch(/sorted/)
    expect(checkListing(page([a, b]), { limit: 100, after: key(b) })).toMatch(/sorted/)
    expect(checkListing(page([c]), { limit: 100, after: key(b) })).toBeUndefined()
  })

  it('refuses an entry outside the prefix, of another author, or without the tag (in its normal form)', () => {
    expect(checkListing(page([a]), { limit: 100, prefix: b.object_id.slice(0, 10) })).toMatch(/prefix/)
    expect(checkListing(page([a]), { limit: 100, author: 'someone-else' })).toMatch(/author/)
    expect(checkListing(page([a]), { limit: 100, author: a.metadata.author_node_id })).toBeUndefined()
    const tagged = summary('list-tagged', 1, { tags: ['keep', 'more'] })
    const other = summary('list-other-tag', 1, { tags: ['other'] })
    expect(checkListing(page([other]), { limit: 100, tag: 'keep' })).toMatch(/lacks the tag/)
    expect(checkListing(page([tagged]), { limit: 100, tag: ' KEEP ' })).toBeUndefined()
  })

  it('refuses two creation ticks, and ticks outside tick_from..tick_to (bounds included)', () => {
    expect(checkListing(page([{ ...a, created_at_tick: 8 }]), all)).toMatch(/two creation ticks/)
    const t = a.created_at_tick
    expect(checkListing(page([a]), { limit: 100, tick_from: t + 1 })).toMatch(/tick_from/)
    expect(checkListing(page([a]), { limit: 100, tick_to: t - 1 })).toMatch(/tick_to/)
    expect(checkListing(page([a]), { limit: 100, tick_from: t, tick_to: t })).toBeUndefined()
  })

  it('refuses a cursor behind the page, not past `after`, or outside the prefix', () => {
    expect(checkListing(page([a, b], key(a)), all)).toMatch(/behind the page/)
    expect(
      checkListing(page([a, { ...a, version: 3 }], { object_id: a.object_id, version: 2 }), all),
    ).toMatch(/behind the page/)
    expect(checkListing(page([], key(b)), { limit: 100, after: key(b) })).toMatch(/does not advance/)
    expect(checkListing(page([], key(a)), { limit: 100, after: key(b) })).toMatch(/does not advance/)
    expect(checkListing(page([], { ...key(b), version: 2 }), { limit: 100, after: key(b) })).toBeUndefined()
    expect(checkListing(page([], key(c)), { limit: 100, prefix: b.object_id.slice(0, 10) })).toMatch(/prefix/)
  })
})
