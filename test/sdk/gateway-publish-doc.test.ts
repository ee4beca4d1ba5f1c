/**
 * docs/sdk.md "AtlasAPIGateway": publishUserContent takes the next version through writeNextVersion,
 * trying above a version a racing writer took or split "up to 16 more times, for bytes only: a stream
 * is read once". Against an engine that refuses every version, the count of writes is the oracle.
 */
import { describe, expect, it } from 'vitest'
import { normalizeMetadata } from '../../src/core/metadata.js'
import type { StorageEngineApi } from '../../src/engine/api.js'
import type { StoreResponse } from '../../src/engine/responses.js'
import { AtlasAPIGateway } from '../../src/sdk/index.js'

const EVENT = 'ee'.repeat(32)

/** An engine with no version of anything, whose every write a racing writer took first. */
function alwaysTaken(): { engine: StorageEngineApi; versions: number[] } {
  const versions: number[] = []
  const engine = {
    listObjects: async () => ({ ok: true, objects: [], next_cursor: null, storage_event_id: EVENT }),
    getContent: async () => ({ ok: false }),
    putContent: async (_oid: string, version: number): Promise<StoreResponse> => {
      versions.push(version)
      return {
        ok: false,
        error_code: 'SE_ERR_INVALID_VERSION',
        code: 'VERSION_CONFLICT',
        error_detail: 'taken',
        storage_event_id: EVENT,
      }
    },
  } as unknown as StorageEngineApi
  return { engine, versions }
}

const metadata = normalizeMetadata({ author_node_id: 'alice', created_at_tick: 1 })

describe('publishUserContent retries (docs/sdk.md)', () => {
  it('tries bytes 17 times in all (16 more), each above the one refused', async () => {
    const { engine, versions } = alwaysTaken()
    const answer = await new AtlasAPIGateway(engine).publishUserContent({
      namespace: 'n',
      clientId: 'c',
      content: new Uint8Array(3),
      metadata,
    })
    expect(answer).toMatchObject({ ok: false, code: 'VERSION_CONFLICT' })
    expect(versions).toEqual(Array.from({ length: 17 }, (_, i) => i + 1))
  })

  it('tries a stream once', async () => {
    const { engine, versions } = alwaysTaken()
    async function* chunks() {
      yield new Uint8Array(3)
    }
    const answer = await new AtlasAPIGateway(engine).publishUserContent({
      namespace: 'n',
      clientId: 'c',
      content: { size: 3, chunks: chunks() },
      metadata,
    })
    expect(answer).toMatchObject({ ok: false, code: 'VERSION_CONFLICT' })
    expect(versions).toEqual([1])
  })
})
