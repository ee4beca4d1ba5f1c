import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { hashCommit } from '../../src/core/commit.js'
import { objectId } from '../../src/core/ids.js'
import { metadataSeed, normalizeMetadata } from '../../src/core/metadata.js'
import type { StorageEngineApi } from '../../src/engine/api.js'
import type { ListResponse, ReadResponse, StoreResponse } from '../../src/engine/responses.js'
import { AtlasAPIGateway } from '../../src/sdk/gateway.js'
import { type EngineHarness, inProcessHarness } from '../engine/harness.js'

/**
 * A gateway that confirms with other nodes (docs/sdk.md "Confirming with other nodes") against a
 * node that lies. Each lie is first shown to pass a gateway that does not confirm, so each test
 * fails if confirming does nothing; the honest answers with confirming on are the shared gateway
 * suite's (test/sdk/gateway.test.ts, "confirming with three other nodes").
 */

const NS = 'gw-confirm'
const meta = (tick: number, tags: string[] = []) => ({ author_node_id: 'alice', created_at_tick: tick, tags })

/** `engine` with some of its answers replaced. */
function lying(engine: StorageEngineApi, lies: Partial<StorageEngineApi>): StorageEngineApi {
  return {
    putContent: engine.putContent.bind(engine),
    deleteContent: engine.deleteContent.bind(engine),
    getContent: engine.getContent.bind(engine),
    readContent: engine.readContent.bind(engine),
    getStorageProof: engine.getStorageProof.bind(engine),
    listObjects: engine.listObjects.bind(engine),
    ...lies,
  } as StorageEngineApi
}

/** A listing whose summaries carry `tags` instead of their own: the hash_commit stays true. */
function retagging(engine: StorageEngineApi, tags: string[]): Partial<StorageEngineApi> {
  return {
    listObjects: async (filters, options): Promise<ListResponse> => {
      const page = await engine.listObjects(filters, options)
      if (!page.ok) return page
      return { ...page, objects: page.objects.map((o) => ({ ...o, metadata: { ...o.metadata, tags } })) }
    },
  }
}

describe('AtlasAPIGateway confirming with other nodes, against a lying node', () => {
  let net: EngineHarness
  const honest = () => net.engine('node-1')
  const others = () => ['node-2', 'node-3', 'node-4'].map((id) => net.engine(id))
  const oid = objectId(NS, 'post')
  const text = (s: string) => new TextEncoder().encode(s)

  beforeAll(async () => {
    net = await inProcessHarness(5)
    const g = new AtlasAPIGateway(honest())
    for (const [i, words] of ['first', 'second'].entries()) {
      const r = await g.publishUserContent({
        namespace: NS,
        clientId: 'post',
        content: text(words),
        metadata: meta(10 + i, ['news']),
      })
      expect(r).toMatchObject({ ok: true, version: i + 1 })
    }
  })
  afterAll(() => net.close())

  it('refuses a read of a made-up but self-consistent version, naming what each node lists', async () => {
    const fake = text('made up')
    const m = normalizeMetadata(meta(12))
    const forged = toHex(hashCommit(fake, 1, metadataSeed(m)))
    const liar = lying(honest(), {
      getContent: async (objectId, version): Promise<ReadResponse> => ({
        ok: true,
        object_id: objectId,
        version: version ?? 2,
        kind: 'UPDATE',
        content_bytes: fake,
        hash_commit: forged,
        metadata: m,
        proofs: [],
        storage_event_id: 'e'.repeat(64),
      }),
    })
    expect(await new AtlasAPIGateway(liar).getContent(oid, 2)).toMatchObject({
      ok: true,
      hash_commit: forged,
    })
    const true2 = await honest().getContent(oid, 2)
    if (!true2.ok) throw new Error(true2.code)
    const answer = await new AtlasAPIGateway(liar, { confirmWith: others() }).getContent(oid, 2)
    expect(answer).toMatchObject({
      ok: false,
      error_code: 'SE_ERR_INTEGRITY_MISMATCH',
      code: 'NOT_CONFIRMED',
      storage_event_id: 'e'.repeat(64),
      confirmation: { agreeing: 0, answers: [0, 1, 2].map(() => ({ hash_commit: true2.hash_commit })) },
    })
    if (!answer.ok) expect(answer.error_detail).toContain(`lists ${true2.hash_commit}`)
  })

  it('refuses a metadata query and a feed whose metadata the node changed under a true hash_commit', async () => {
    const liar = lying(honest(), retagging(honest(), ['forged']))
    const plain = new AtlasAPIGateway(liar)
    expect(await plain.queryMetadata(oid, 1)).toMatchObject({ ok: true, metadata: { tags: ['forged'] } })
    expect(await plain.retrieveFeed({ author: 'alice' })).toMatchObject({ ok: true })
    const confirming = new AtlasAPIGateway(liar, { confirmWith: others() })
    const differs = { agreeing: 0, answers: [0, 1, 2].map(() => ({ differs: ['metadata'] })) }
    for (const answer of [
      await confirming.queryMetadata(oid, 1),
      await confirming.queryMetadata(oid),
      await confirming.retrieveFeed({ author: 'alice' }),
    ]) {
      expect(answer).toMatchObject({ ok: false, code: 'NOT_CONFIRMED', confirmation: differs })
    }
  })

  it('refuses a feed item whose content read is another record than the one listed, confirming or not', async () => {
    const liar = lying(honest(), {
      // Version 1's read answers version 2's record and content, verified as such by the engine:
      // a decided record the nodes asked would confirm, but not the one the page listed.
      getContent: async (objectId, _version, options) => honest().getContent(objectId, 2, options),
    })
    const query = { author: 'alice', includeContent: true }
    expect(await new AtlasAPIGateway(honest()).retrieveFeed(query)).toMatchObject({ ok: true })
    for (const gateway of [new AtlasAPIGateway(liar), new AtlasAPIGateway(liar, { confirmWith: others() })]) {
      const answer = await gateway.retrieveFeed(query)
      expect(answer).toMatchObject({
        ok: false,
        error_code: 'SE_ERR_INTEGRITY_MISMATCH',
        code: 'INTEGRITY_MISMATCH',
      })
      if (!answer.ok) expect(answer.error_detail).toContain('other than the one listed')
    }
  })

  it('refuses a latest delete marker the node made up, which would hide the content', async () => {
    const liar = lying(honest(), {
      listObjects: async (filters, options): Promise<ListResponse> => {
        const page = await honest().listObjects(filters, options)
        if (!page.ok || page.objects.length === 0) return page
        const last = page.objects.at(-1)!
        const m = normalizeMetadata(meta(99))
        const marker = {
          ...last,
          version: last.version + 1,
          kind: 'DELETE_MARKER' as const,
          content_size: 0,
          created_at_tick: 99,
          metadata: m,
          hash_commit: toHex(hashCommit(new Uint8Array(0), 1, metadataSeed(m))),
        }
        return { ...page, objects: [...page.objects, marker] }
      },
    })
    expect(await new AtlasAPIGateway(liar).queryMetadata(oid)).toMatchObject({ ok: false, code: 'NOT_FOUND' })
    expect(await new AtlasAPIGateway(liar, { confirmWith: others() }).queryMetadata(oid)).toMatchObject({
      ok: false,
      code: 'NOT_CONFIRMED',
      confirmation: { agreeing: 0, answers: [0, 1, 2].map(() => ({ hash_commit: null })) },
    })
  })

  it('refuses a write the node acknowledged without storing it', async () => {
    const liar = lying(honest(), {
      putContent: async (objectId, version, content, metadata): Promise<StoreResponse> => ({
        ok: true,
        object_id: objectId,
        version,
        kind: version === 1 ? 'STORE' : 'UPDATE',
        hash_commit: toHex(
          hashCommit(content as Uint8Array, 1, metadataSeed(normalizeMetadata(metadata as object))),
        ),
        content_size: (content as Uint8Array).length,
        shard_ids: [],
        replica_sets: {},
        atr_cost: '0',
        under_replicated: {},
        storage_event_id: 'f'.repeat(64),
      }),
    })
    const request = { namespace: NS, clientId: 'never-stored', content: text('x'), metadata: meta(20) }
    expect(await new AtlasAPIGateway(liar).publishUserContent(request)).toMatchObject({ ok: true })
    expect(
      await new AtlasAPIGateway(liar, { confirmWith: others() }).publishUserContent(request),
    ).toMatchObject({
      ok: false,
      code: 'NOT_CONFIRMED',
      storage_event_id: 'f'.repeat(64),
      confirmation: { agreeing: 0, answers: [0, 1, 2].map(() => ({ hash_commit: null })) },
    })
  })

  it('one liar among the three nodes asked neither blocks the truth nor passes a lie', async () => {
    const [a, b, c] = others()
    const asked = [lying(a!, retagging(a!, ['forged'])), b!, c!]
    const truth = await new AtlasAPIGateway(honest(), { confirmWith: asked }).queryMetadata(oid, 1)
    expect(truth).toMatchObject({ ok: true, metadata: { tags: ['news'] } })
    const liar = lying(honest(), retagging(honest(), ['forged']))
    expect(await new AtlasAPIGateway(liar, { confirmWith: asked }).queryMetadata(oid, 1)).toMatchObject({
      ok: false,
      code: 'NOT_CONFIRMED',
      confirmation: { agreeing: 1 },
    })
  })

  it('stops confirming when the nodes are set to undefined', async () => {
    const liar = lying(honest(), retagging(honest(), ['forged']))
    const g = new AtlasAPIGateway(liar, { confirmWith: others() })
    expect(await g.queryMetadata(oid, 1)).toMatchObject({ code: 'NOT_CONFIRMED' })
    g.setConfirmingEngines(undefined)
    expect(await g.queryMetadata(oid, 1)).toMatchObject({ ok: true })
  })
})

describe('AtlasAPIGateway: the nodes to confirm with', () => {
  let net: EngineHarness
  beforeAll(async () => {
    net = await inProcessHarness(4)
  })
  afterAll(() => net.close())

  it('are refused empty, twice the same, the gateway’s own engine, or not engines (INVALID_INPUT, thrown)', () => {
    const [a, b, c] = ['node-1', 'node-2', 'node-3'].map((id) => net.engine(id))
    const invalid = expect.objectContaining({ code: 'INVALID_INPUT' })
    expect(() => new AtlasAPIGateway(a, { confirmWith: [] })).toThrow(invalid)
    expect(() => new AtlasAPIGateway(a, { confirmWith: [b!, b!] })).toThrow(invalid)
    expect(() => new AtlasAPIGateway(a, { confirmWith: [b!, a!] })).toThrow(invalid)
    expect(() => new AtlasAPIGateway(a, { confirmWith: [{} as StorageEngineApi] })).toThrow(invalid)
    expect(() => new AtlasAPIGateway(a, { confirmWith: 'node-2' as never })).toThrow(invalid)
    // Set in the other order, the engine is checked against the nodes already set.
    const g = new AtlasAPIGateway(undefined, { confirmWith: [b!, c!] })
    expect(() => g.setStorageEngine(c!)).toThrow(invalid)
    g.setStorageEngine(a!)
  })

  it('tell clients of one node apart by node id, not by object', () => {
    const node = (nodeId: string) => ({ ...lying(net.engine('node-1'), {}), nodeId }) as StorageEngineApi
    const invalid = expect.objectContaining({ code: 'INVALID_INPUT' })
    expect(() => new AtlasAPIGateway(node('p1'), { confirmWith: [node('p2'), node('p1')] })).toThrow(invalid)
    expect(() => new AtlasAPIGateway(node('p1'), { confirmWith: [node('p2'), node('p2')] })).toThrow(invalid)
    expect(() => new AtlasAPIGateway(node('p1'), { confirmWith: [node('p2'), node('p3')] })).not.toThrow()
  })

  it('keep a copy: changing the caller’s list afterwards changes nothing', async () => {
    const [a, b, c, d] = ['node-1', 'node-2', 'node-3', 'node-4'].map((id) => net.engine(id))
    const list = [b!, c!, d!]
    const g = new AtlasAPIGateway(a, { confirmWith: list })
    // Three more nodes whose listings fail would leave 3 of 6 agreeing: no majority, if they counted.
    const failing = (): StorageEngineApi =>
      lying(a!, {
        listObjects: async () => ({ ...(await a!.listObjects({ limit: 0 as never })), ok: false }) as never,
      })
    list.push(failing(), failing(), failing())
    const put = await g.publishUserContent({
      namespace: NS,
      clientId: 'copy',
      content: Uint8Array.of(1),
      metadata: meta(1),
    })
    expect(put).toMatchObject({ ok: true, version: 1 })
  })
})
