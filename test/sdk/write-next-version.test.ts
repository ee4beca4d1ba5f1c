import { describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { normalizeMetadata } from '../../src/core/metadata.js'
import type { StorageEngineApi } from '../../src/engine/api.js'
import { MAX_LATEST_STEPS_BACK } from '../../src/engine/catalogue.js'
import type { ListResponse, StoreResponse } from '../../src/engine/responses.js'
import { latestVersion, writeNextVersion } from '../../src/sdk/versions.js'

const OID = objectId('next-version', 'one')
const EVENT = 'ee'.repeat(32)

/** An engine whose listing answers `latest()` as the object's latest decided version. */
function engineWithLatest(latest: () => number): StorageEngineApi {
  return {
    listObjects: async (): Promise<ListResponse> => ({
      ok: true,
      objects:
        latest() === 0
          ? []
          : [
              {
                object_id: OID,
                version: latest(),
                kind: 'STORE',
                hash_commit: EVENT,
                content_size: 1,
                created_at_tick: 1,
                metadata: normalizeMetadata({ author_node_id: 'a', created_at_tick: 1 }),
              },
            ],
      next_cursor: null,
      storage_event_id: EVENT,
    }),
  } as unknown as StorageEngineApi
}

const refusal = (code: 'VERSION_CONFLICT' | 'INVALID_VERSION'): StoreResponse => ({
  ok: false,
  error_code: 'SE_ERR_INVALID_VERSION',
  code,
  error_detail: code,
  storage_event_id: null,
})

const stored = (version: number) => ({ ok: true, version }) as unknown as StoreResponse

describe('writeNextVersion', () => {
  it('steps over versions refused while the latest decided one stays below them (split versions)', async () => {
    const tried: number[] = []
    const answer = await writeNextVersion(
      engineWithLatest(() => 1),
      OID,
      async (v) => {
        tried.push(v)
        return v < 4 ? refusal('VERSION_CONFLICT') : stored(v)
      },
    )
    expect(answer).toMatchObject({ ok: true, version: 4 })
    expect(tried).toEqual([2, 3, 4])
  })

  it('follows the latest when a racing writer took the version', async () => {
    let latest = 1
    const tried: number[] = []
    const answer = await writeNextVersion(
      engineWithLatest(() => latest),
      OID,
      async (v) => {
        tried.push(v)
        if (v === 2) {
          latest = 5 // others wrote 2..5 meanwhile
          return refusal('VERSION_CONFLICT')
        }
        return stored(v)
      },
    )
    expect(answer).toMatchObject({ ok: true, version: 6 })
    expect(tried).toEqual([2, 6])
  })

  it('reads the latest again after a gap, without stepping', async () => {
    let latest = 1
    const tried: number[] = []
    await writeNextVersion(
      engineWithLatest(() => latest),
      OID,
      async (v) => {
        tried.push(v)
        if (tried.length === 1) {
          latest = 0 // the listing had been ahead of the homes: 2 is a gap
          return refusal('INVALID_VERSION')
        }
        return stored(v)
      },
    )
    expect(tried).toEqual([2, 1])
  })

  it('gives up after MAX_LATEST_STEPS_BACK more attempts, or at once with retries 0', async () => {
    let calls = 0
    const always = async () => {
      calls++
      return refusal('VERSION_CONFLICT')
    }
    expect(
      await writeNextVersion(
        engineWithLatest(() => 0),
        OID,
        always,
      ),
    ).toMatchObject({
      code: 'VERSION_CONFLICT',
    })
    expect(calls).toBe(MAX_LATEST_STEPS_BACK + 1)
    calls = 0
    await writeNextVersion(
      engineWithLatest(() => 0),
      OID,
      always,
      { retries: 0 },
    )
    expect(calls).toBe(1)
  })

  it('answers other failures at once', async () => {
    let calls = 0
    const answer = await writeNextVersion(
      engineWithLatest(() => 0),
      OID,
      async () => {
        calls++
        return {
          ...refusal('VERSION_CONFLICT'),
          error_code: 'SE_ERR_NO_ELIGIBLE_NODES',
          code: 'QUORUM_NOT_REACHED',
        }
      },
    )
    expect(answer).toMatchObject({ code: 'QUORUM_NOT_REACHED' })
    expect(calls).toBe(1)
  })
})

describe('latestVersion', () => {
  it('keeps the last version seen when the last page of the listing is empty', async () => {
    const v = (version: number) => ({
      object_id: OID,
      version,
      kind: 'STORE',
      hash_commit: EVENT,
      content_size: 1,
      created_at_tick: 1,
      metadata: normalizeMetadata({ author_node_id: 'a', created_at_tick: 1 }),
    })
    // A full page whose cursor is its last entry, then an empty page: the object ends at version 2.
    const pages: ListResponse[] = [
      {
        ok: true,
        objects: [v(1), v(2)],
        next_cursor: { object_id: OID, version: 2 },
        storage_event_id: EVENT,
      },
      { ok: true, objects: [], next_cursor: null, storage_event_id: EVENT },
    ] as ListResponse[]
    const engine = { listObjects: async () => pages.shift()! } as unknown as StorageEngineApi
    expect(await latestVersion(engine, OID)).toMatchObject({ ok: true, latest: { version: 2 } })
  })

  it('refuses a cursor naming another object, though it moves forward', async () => {
    let pages = 0
    const engine = {
      listObjects: async () => {
        pages++
        return pages === 1
          ? {
              ok: true,
              objects: [],
              next_cursor: { object_id: 'ab'.repeat(32), version: 5 },
              storage_event_id: EVENT,
            }
          : { ok: true, objects: [], next_cursor: null, storage_event_id: EVENT }
      },
    } as unknown as StorageEngineApi
    expect(await latestVersion(engine, OID)).toMatchObject({ ok: false, code: 'INTEGRITY_MISMATCH' })
    expect(pages).toBe(1)
  })
})
