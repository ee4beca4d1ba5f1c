import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { sha3 } from '../../src/core/hash.js'
import { objectId } from '../../src/core/ids.js'
import type { StorageEngineApi } from '../../src/engine/api.js'
import type { ListResponse } from '../../src/engine/responses.js'
import { confirmVersion } from '../../src/sdk/confirm.js'

const OID = objectId('confirm-distinct', 'one')
const FORGED = toHex(sha3(new Uint8Array([7])))
const DECIDED = toHex(sha3(new Uint8Array([8])))
const EVENT = 'ab'.repeat(32)

/** An engine whose listing of the object lists version 1 with `hashCommit`; counts what it is asked. */
function listing(hashCommit: string, asked: { n: number }): StorageEngineApi {
  return {
    listObjects: async (): Promise<ListResponse> => {
      asked.n++
      const o = {
        object_id: OID,
        version: 1,
        kind: 'STORE' as const,
        hash_commit: hashCommit,
        content_size: 1,
        created_at_tick: 1,
        metadata: { author_node_id: 'x', created_at_tick: 1 } as never,
      }
      return { ok: true, objects: [o], next_cursor: null, storage_event_id: EVENT }
    },
  } as unknown as StorageEngineApi
}

/**
 * The majority is of distinct nodes: one engine given twice would count one node's word twice, so
 * a liar listed twice beside one honest node would confirm what it made up.
 */
describe('confirmVersion asks each engine once', () => {
  it('refuses an engine given twice with INVALID_INPUT, before asking anyone', async () => {
    const asked = { n: 0 }
    const liar = listing(FORGED, asked)
    const honest = listing(DECIDED, asked)
    const answer = await confirmVersion([liar, liar, honest], {
      object_id: OID,
      version: 1,
      hash_commit: FORGED,
    })
    expect(answer).toMatchObject({ ok: false, code: 'INVALID_INPUT', error_code: 'SE_ERR_INVALID_INPUT' })
    expect(asked.n).toBe(0)
  })

  it('refuses two clients of one node (the same nodeId), before asking anyone', async () => {
    const asked = { n: 0 }
    const clientOf = (nodeId: string, hashCommit: string) =>
      Object.assign(listing(hashCommit, asked), { nodeId })
    const engines = [clientOf('peer-a', FORGED), clientOf('peer-a', FORGED), clientOf('peer-b', DECIDED)]
    const answer = await confirmVersion(engines, { object_id: OID, version: 1, hash_commit: FORGED })
    expect(answer).toMatchObject({
      ok: false,
      code: 'INVALID_INPUT',
      error_detail: expect.stringContaining('peer-a'),
    })
    expect(asked.n).toBe(0)
  })

  it('distinct engines are counted as before: one liar among three confirms nothing', async () => {
    const asked = { n: 0 }
    const engines = [listing(FORGED, asked), listing(DECIDED, asked), listing(DECIDED, asked)]
    const answer = await confirmVersion(engines, { object_id: OID, version: 1, hash_commit: FORGED })
    expect(answer).toMatchObject({ ok: true, confirmed: false, agreeing: 1 })
    expect(asked.n).toBe(3)
  })
})
