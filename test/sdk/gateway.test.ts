import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { hashCommit } from '../../src/core/commit.js'
import { objectId } from '../../src/core/ids.js'
import { metadataSeed, normalizeMetadata } from '../../src/core/metadata.js'
import type { StorageEngineApi } from '../../src/engine/api.js'
import { AtlasAPIGateway } from '../../src/sdk/gateway.js'
import { findObject, orderDecides } from '../engine/consistency-claims-helpers.js'
import { type EngineHarness, inProcessHarness } from '../engine/harness.js'
import { bytesOf } from '../engine/suite.js'
import { clientHarness } from './harness.js'

function expectOk<T extends { ok: boolean }>(r: T): asserts r is Extract<T, { ok: true }> {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r)}`)
}

const post = (author: string, tick: number, tags: string[] = []) => ({
  author_node_id: author,
  created_at_tick: tick,
  tags,
})

describe('AtlasAPIGateway without an engine', () => {
  it('throws ENGINE_NOT_SET from every content operation, and refuses a non-engine', async () => {
    const g = new AtlasAPIGateway()
    const oid = objectId('atlas', 'x')
    const calls = [
      () =>
        g.publishUserContent({
          namespace: 'atlas',
          clientId: 'x',
          content: Uint8Array.of(1),
          metadata: post('a', 1),
        }),
      () => g.retrieveFeed({}),
      () => g.queryMetadata(oid),
      () => g.getContent(oid),
    ]
    for (const call of calls) {
      const err = await (async () => call())().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toMatchObject({ code: 'ENGINE_NOT_SET' })
    }
    expect(() => g.setStorageEngine({} as StorageEngineApi)).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    )
  })
})

/**
 * The same gateway behaviour over any StorageEngineApi; with `confirming`, each gateway also confirms
 * with three nodes other than its own, which on an honest network must change no answer.
 */
function describeGateway(name: string, makeHarness: () => Promise<EngineHarness>, confirming = false): void {
  describe(`AtlasAPIGateway over ${name}`, () => {
    let h: EngineHarness
    let gateway: AtlasAPIGateway
    let engine: StorageEngineApi
    const gatewayOf = (index: number): AtlasAPIGateway => {
      const others = h.nodeIds.filter((_, i) => i !== index).slice(0, 3)
      const options = confirming ? { confirmWith: others.map((id) => h.engine(id)) } : {}
      return new AtlasAPIGateway(h.engine(h.nodeIds[index]!), options)
    }
    beforeAll(async () => {
      h = await makeHarness()
      engine = h.engine(h.nodeIds[1]!)
      gateway = gatewayOf(1)
    })
    afterAll(async () => {
      await h?.close()
    })

    it('publishes user content as latest + 1 under objectId(namespace, clientId)', async () => {
      const oid = objectId('atlas-posts', 'alice/post-1')
      const m1 = post('alice', 100, ['Hello'])
      const first = await gateway.publishUserContent({
        namespace: 'atlas-posts',
        clientId: 'alice/post-1',
        content: bytesOf('post-1-a', 3000),
        metadata: m1,
      })
      expectOk(first)
      expect(first).toMatchObject({ object_id: oid, version: 1, kind: 'STORE' })
      expect(first.hash_commit).toBe(
        toHex(hashCommit(bytesOf('post-1-a', 3000), 1, metadataSeed(normalizeMetadata(m1)))),
      )
      const second = await gateway.publishUserContent({
        namespace: 'atlas-posts',
        clientId: 'alice/post-1',
        content: bytesOf('post-1-b', 10),
        metadata: post('alice', 101, ['hello']),
      })
      expectOk(second)
      expect(second).toMatchObject({ object_id: oid, version: 2, kind: 'UPDATE' })
      const latest = await gateway.getContent(oid)
      expectOk(latest)
      expect(latest.version).toBe(2)
      expect(Buffer.from(latest.content_bytes).equals(bytesOf('post-1-b', 10))).toBe(true)
      const bad = await gateway.publishUserContent({
        namespace: 'atlas-posts',
        clientId: 'alice/post-1',
        content: Uint8Array.of(1),
        metadata: { author_node_id: 'alice' },
      })
      expect(bad).toMatchObject({ ok: false, error_code: 'SE_ERR_INVALID_INPUT', code: 'INVALID_METADATA' })
      expect(
        await gateway.publishUserContent({
          namespace: 'atlas-posts',
          clientId: '\ud800',
          content: Uint8Array.of(1),
          metadata: post('a', 1),
        }),
      ).toMatchObject({ ok: false, error_code: 'SE_ERR_INVALID_INPUT', storage_event_id: null })
    })

    it('retries once when another publisher takes the version first', async () => {
      const other = gatewayOf(3)
      const request = (g: AtlasAPIGateway, label: string) =>
        g.publishUserContent({
          namespace: 'atlas-race',
          clientId: 'shared',
          content: bytesOf(label, 2 * 262_144),
          metadata: post('racer', 5),
        })
      const [a, b] = await Promise.all([request(gateway, 'race-a'), request(other, 'race-b')])
      expectOk(a)
      expectOk(b)
      expect([a.version, b.version].sort()).toEqual([1, 2])
      for (const [answer, label] of [
        [a, 'race-a'],
        [b, 'race-b'],
      ] as const) {
        const got = await gateway.getContent(answer.object_id, answer.version)
        expectOk(got)
        expect(Buffer.from(got.content_bytes).equals(bytesOf(label, 2 * 262_144))).toBe(true)
      }
    })

    it('retrieves a feed page by page in the engine order, with filters and contents', async () => {
      const author = 'feed-author'
      const published: Array<{
        object_id: string
        version: number
        tick: number
        tags: string[]
        label: string
      }> = []
      for (let i = 0; i < 5; i++) {
        const tags = i % 2 === 0 ? ['Even'] : ['odd']
        const label = `feed-${i}`
        const r = await gateway.publishUserContent({
          namespace: 'atlas-feed',
          clientId: `item-${i}`,
          content: bytesOf(label, 500 + i),
          metadata: post(author, 10 + i, tags),
        })
        expectOk(r)
        published.push({ object_id: r.object_id, version: r.version, tick: 10 + i, tags, label })
      }
      const del = await engine.deleteContent(published[4]!.object_id, 2, post(author, 20))
      expectOk(del)
      const expected = [
        ...published.map((p) => ({ object_id: p.object_id, version: p.version })),
        { object_id: published[4]!.object_id, version: 2 },
      ].sort((x, y) =>
        x.object_id < y.object_id ? -1 : x.object_id > y.object_id ? 1 : x.version - y.version,
      )

      const whole = await gateway.retrieveFeed({ author })
      expectOk(whole)
      expect(whole.items.map((i) => ({ object_id: i.object_id, version: i.version }))).toEqual(expected)
      expect(whole.next_cursor).toBeNull()
      expect(whole.items.every((i) => i.content_bytes === undefined)).toBe(true)

      const paged: Array<{ object_id: string; version: number }> = []
      let after: { object_id: string; version: number } | undefined
      for (let n = 0; n < 10; n++) {
        const page = await gateway.retrieveFeed({ author, limit: 2, after })
        expectOk(page)
        expect(page.items.length).toBeLessThanOrEqual(2)
        paged.push(...page.items.map((i) => ({ object_id: i.object_id, version: i.version })))
        if (page.next_cursor === null) break
        after = page.next_cursor
      }
      expect(paged).toEqual(expected)

      const even = await gateway.retrieveFeed({ author, tag: 'even', tickFrom: 11, tickTo: 13 })
      expectOk(even)
      expect(even.items.map((i) => i.object_id)).toEqual([published[2]!.object_id])

      const withContent = await gateway.retrieveFeed({ author, includeContent: true })
      expectOk(withContent)
      for (const item of withContent.items) {
        if (item.kind === 'DELETE_MARKER') {
          expect(item.content_bytes).toBeNull()
          continue
        }
        const p = published.find((x) => x.object_id === item.object_id)!
        expect(Buffer.from(item.content_bytes!).equals(bytesOf(p.label, item.content_size))).toBe(true)
      }
      expect(await gateway.retrieveFeed({ limit: 0 })).toMatchObject({
        ok: false,
        error_code: 'SE_ERR_INVALID_INPUT',
      })
    })

    it('answers metadata queries from the catalogue: latest, by version, missing, deleted', async () => {
      const oid = objectId('atlas-posts', 'alice/post-1')
      const latest = await gateway.queryMetadata(oid)
      expectOk(latest)
      expect(latest).toMatchObject({ object_id: oid, version: 2, kind: 'UPDATE', created_at_tick: 101 })
      expect(latest.metadata).toEqual(normalizeMetadata(post('alice', 101, ['hello'])))
      const first = await gateway.queryMetadata(oid, 1)
      expectOk(first)
      expect(first).toMatchObject({ version: 1, content_size: 3000, metadata: { tags: ['hello'] } })
      expect(await gateway.queryMetadata(oid, 3)).toMatchObject({ ok: false, error_code: 'SE_ERR_NOT_FOUND' })
      expect(await gateway.queryMetadata(objectId('atlas', 'never'))).toMatchObject({
        ok: false,
        error_code: 'SE_ERR_NOT_FOUND',
      })
      const deleted = objectId('atlas-feed', 'item-4')
      expect(await gateway.queryMetadata(deleted)).toMatchObject({
        ok: false,
        error_code: 'SE_ERR_NOT_FOUND',
      })
      expect(await gateway.queryMetadata(deleted, 2)).toMatchObject({ ok: true, kind: 'DELETE_MARKER' })
      expect(await gateway.queryMetadata('XYZ')).toMatchObject({
        ok: false,
        error_code: 'SE_ERR_INVALID_INPUT',
      })
      expect(await gateway.queryMetadata(oid, 0)).toMatchObject({
        ok: false,
        error_code: 'SE_ERR_INVALID_INPUT',
      })
    })

    it("passes the caller's signal on: an aborted metadata query is a failure", async () => {
      const oid = objectId('atlas-posts', 'alice/post-1')
      const stop = new AbortController()
      stop.abort()
      for (const version of [undefined, 1]) {
        expect(await gateway.queryMetadata(oid, version, { signal: stop.signal })).toMatchObject({
          ok: false,
        })
        expect(await gateway.queryMetadata(oid, version)).toMatchObject({ ok: true })
      }
    })
  })
}

describeGateway('the in-process StorageEngine', () => inProcessHarness(5))
describeGateway('QfsClient over libp2p', () => clientHarness(5))
describeGateway(
  'the in-process StorageEngine, confirming with three other nodes',
  () => inProcessHarness(5),
  true,
)
describeGateway('QfsClient over libp2p, confirming with three other nodes', () => clientHarness(5), true)

describe('AtlasAPIGateway over a QfsClient: content bounds', () => {
  it("passes getContent's maxBytes to the client, which refuses more before any byte", async () => {
    const h = await clientHarness(5)
    try {
      const gateway = new AtlasAPIGateway(h.engine(h.nodeIds[0]!))
      const put = await gateway.publishUserContent({
        namespace: 'atlas-bounds',
        clientId: 'big',
        content: bytesOf('bounds', 10_000),
        metadata: post('bob', 7),
      })
      expectOk(put)
      expect(await gateway.getContent(put.object_id, 1, { maxBytes: 9_999 })).toMatchObject({
        ok: false,
        code: 'CONTENT_TOO_LARGE',
      })
      expect(await gateway.getContent(put.object_id, 1, { maxBytes: 10_000 })).toMatchObject({ ok: true })
    } finally {
      await h.close()
    }
  })
})

describe('AtlasAPIGateway after racing writers split a version', () => {
  it('publishes above the split version, which the latest decided one stays below', async () => {
    const h = await inProcessHarness(5)
    const undo: Array<() => void> = []
    try {
      const p = findObject(h.nodeIds, 'gw-split', () => true, 2)
      const writers = h.nodeIds.slice(0, 3)
      expectOk(await h.engine(writers[0]!).putContent(p.oid, 1, bytesOf('gw-split-1', 3000), post('w', 1)))
      // Three writers of version 2, each home taking a different one first: no record can decide.
      undo.push(
        orderDecides(
          h.net.transport,
          { oid: p.oid, version: 2, homes: p.homes },
          p.homes.map((home, i) => ({ tick: 11 + i, homes: [home] })),
        ),
      )
      const raced = await Promise.all(
        writers.map((w, i) =>
          h.engine(w).putContent(p.oid, 2, bytesOf(`gw-split-${w}`, 5000), post('w', 11 + i)),
        ),
      )
      for (const u of undo.splice(0).reverse()) u()
      for (const r of raced) expect(r).toMatchObject({ ok: false, code: 'VERSION_CONFLICT' })
      const gateway = new AtlasAPIGateway(h.engine(h.nodeIds[4]!))
      expect(await gateway.queryMetadata(p.oid)).toMatchObject({ ok: true, version: 1 })
      const published = await gateway.publishUserContent({
        namespace: 'claims',
        clientId: 'gw-split-0',
        content: bytesOf('gw-split-3', 2000),
        metadata: post('gw', 30),
      })
      expectOk(published)
      expect(published).toMatchObject({ object_id: p.oid, version: 3 })
      const back = await gateway.getContent(p.oid)
      expectOk(back)
      expect(back.version).toBe(3)
      expect(Buffer.from(back.content_bytes).equals(bytesOf('gw-split-3', 2000))).toBe(true)
    } finally {
      for (const u of undo.splice(0).reverse()) u()
      await h.close()
    }
  })
})
