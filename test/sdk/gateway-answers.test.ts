import { describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { normalizeMetadata } from '../../src/core/metadata.js'
import type { StorageEngineApi } from '../../src/engine/api.js'
import type { ListResponse, ObjectSummary, ReadResponse, StoreResponse } from '../../src/engine/responses.js'
import { AtlasAPIGateway } from '../../src/sdk/gateway.js'

const EVENT = 'ee'.repeat(32)
const OID = objectId('gateway-answers', 'one')

const summary = (object_id: string, version: number, extra: Partial<ObjectSummary> = {}): ObjectSummary => ({
  object_id,
  version,
  kind: 'STORE',
  hash_commit: EVENT,
  content_size: 3,
  created_at_tick: 1,
  metadata: normalizeMetadata({ author_node_id: 'a', created_at_tick: 1 }),
  ...extra,
})

/** An engine answering listings with `objects` (one page) and reads with `read`, counting writes. */
function engine(
  objects: ObjectSummary[],
  read: (oid: string, version?: number) => ReadResponse,
  put: () => StoreResponse = () => ({ ok: true }) as unknown as StoreResponse,
): StorageEngineApi & { puts: number; reads: number } {
  const e = {
    puts: 0,
    reads: 0,
    listObjects: async (): Promise<ListResponse> => ({
      ok: true,
      objects,
      next_cursor: null,
      storage_event_id: EVENT,
    }),
    getContent: async (oid: string, version?: number) => {
      e.reads++
      return read(oid, version)
    },
    putContent: async () => {
      e.puts++
      return put()
    },
  }
  return e as unknown as StorageEngineApi & { puts: number; reads: number }
}

/** A read of the version `summary` lists with `bytes` as its content. */
const readOk =
  (bytes: Uint8Array) =>
  (oid = OID, version = 1): ReadResponse => {
    const { content_size: _, created_at_tick: __, ...fields } = summary(oid, version)
    return { ok: true, ...fields, content_bytes: bytes, proofs: [], storage_event_id: EVENT }
  }
const notFound = {
  ok: false,
  error_code: 'SE_ERR_NOT_FOUND',
  code: 'NOT_FOUND',
  error_detail: 'gone',
  storage_event_id: EVENT,
} as const

/** What the gateway does with its engine's answers, over an engine scripted to answer them. */
describe('AtlasAPIGateway over scripted engine answers', () => {
  it('fails a feed page with contents when one listed version cannot be read, rather than dropping it', async () => {
    const e = engine([summary(OID, 1), summary(OID, 2)], (_oid, v) =>
      v === 2 ? (notFound as unknown as ReadResponse) : readOk(Uint8Array.of(1, 2, 3))(OID, v),
    )
    expect(await new AtlasAPIGateway(e).retrieveFeed({ includeContent: true })).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    })
  })

  it('reads the content of an empty version, and only a delete marker carries null', async () => {
    const e = engine(
      [summary(OID, 1, { content_size: 0 }), summary(OID, 2, { kind: 'DELETE_MARKER', content_size: 0 })],
      readOk(new Uint8Array(0)),
    )
    const feed = await new AtlasAPIGateway(e).retrieveFeed({ includeContent: true })
    expect(feed).toMatchObject({ ok: true })
    const items = (feed as { items: { content_bytes?: Uint8Array | null }[] }).items
    expect(items[0]!.content_bytes).toEqual(new Uint8Array(0))
    expect(items[1]!.content_bytes).toBeNull()
    expect(e.reads).toBe(1)
  })

  it('fails a feed page whose read answers no record or another one than listed (INTEGRITY_MISMATCH, no throw)', async () => {
    const lies: Array<(oid: string, version?: number) => ReadResponse> = [
      () =>
        ({
          ok: true,
          content_bytes: Uint8Array.of(1, 2, 3),
          storage_event_id: EVENT,
        }) as unknown as ReadResponse,
      (oid, v) => ({ ...readOk(Uint8Array.of(1, 2, 3))(oid, v), metadata: null }) as unknown as ReadResponse,
      (oid, v) => readOk(Uint8Array.of(1, 2))(oid, v),
      (oid, v) => ({ ...readOk(Uint8Array.of(1, 2, 3))(oid, v), hash_commit: 'dd'.repeat(32) }),
      (oid, v) => ({ ...readOk(Uint8Array.of(1, 2, 3))(oid, v), kind: 'UPDATE' }),
      (oid) => readOk(Uint8Array.of(1, 2, 3))(oid, 2),
    ]
    expect(
      await new AtlasAPIGateway(engine([summary(OID, 1)], readOk(Uint8Array.of(1, 2, 3)))).retrieveFeed({
        includeContent: true,
      }),
    ).toMatchObject({ ok: true })
    for (const lie of lies) {
      expect(
        await new AtlasAPIGateway(engine([summary(OID, 1)], lie)).retrieveFeed({ includeContent: true }),
      ).toMatchObject({ ok: false, error_code: 'SE_ERR_INTEGRITY_MISMATCH', storage_event_id: EVENT })
    }
  })

  it('answers a metadata query by version with NOT_FOUND when the listing names another object', async () => {
    const other = objectId('gateway-answers', 'other')
    const e = engine([summary(other, 2)], readOk(new Uint8Array(0)))
    expect(await new AtlasAPIGateway(e).queryMetadata(OID, 2)).toMatchObject({ ok: false, code: 'NOT_FOUND' })
  })

  it('answers a metadata query by version with NOT_FOUND when the listing skips to a later version', async () => {
    const e = engine([summary(OID, 3)], readOk(new Uint8Array(0)))
    expect(await new AtlasAPIGateway(e).queryMetadata(OID, 2)).toMatchObject({ ok: false, code: 'NOT_FOUND' })
    expect(await new AtlasAPIGateway(e).queryMetadata(OID, 3)).toMatchObject({ ok: true, version: 3 })
  })

  it('publishes a stream once: a version taken by a racer is answered, not written again from a spent stream', async () => {
    const conflict = {
      ok: false,
      error_code: 'SE_ERR_INVALID_VERSION',
      code: 'VERSION_CONFLICT',
      error_detail: 'taken',
      storage_event_id: null,
    } as unknown as StoreResponse
    const request = (content: Uint8Array | { size: number; chunks: AsyncIterable<Uint8Array> }) => ({
      namespace: 'gateway-answers',
      clientId: 'one',
      content,
      metadata: { author_node_id: 'a', created_at_tick: 1 },
    })
    const streamed = engine([], readOk(new Uint8Array(0)), () => conflict)
    async function* chunks() {
      yield Uint8Array.of(1)
    }
    expect(
      await new AtlasAPIGateway(streamed).publishUserContent(request({ size: 1, chunks: chunks() })),
    ).toMatchObject({
      ok: false,
      code: 'VERSION_CONFLICT',
    })
    expect(streamed.puts).toBe(1)
    // Bytes are sent again.
    const bytes = engine([], readOk(new Uint8Array(0)), () => conflict)
    await new AtlasAPIGateway(bytes).publishUserContent(request(Uint8Array.of(1)))
    expect(bytes.puts).toBeGreaterThan(1)
  })
})
