import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { sha3 } from '../../src/core/hash.js'
import { objectId } from '../../src/core/ids.js'
import { normalizeMetadata } from '../../src/core/metadata.js'
import type { StorageEngineApi } from '../../src/engine/api.js'
import type { ListResponse, ReadSuccess } from '../../src/engine/responses.js'
import { confirmVersion } from '../../src/sdk/confirm.js'
import { type EngineHarness, inProcessHarness } from '../engine/harness.js'

const META = { author_node_id: 'confirm-test', created_at_tick: 1 }
const FORGED = toHex(sha3(new Uint8Array([1, 2, 3])))

/** `engine`, except that its listing of the object answers `hash_commit` for every version listed. */
function lying(engine: StorageEngineApi, hashCommit: string): StorageEngineApi {
  return {
    ...engine,
    listObjects: async (filters, options): Promise<ListResponse> => {
      const page = await engine.listObjects(filters, options)
      if (!page.ok) return page
      return { ...page, objects: page.objects.map((o) => ({ ...o, hash_commit: hashCommit })) }
    },
  } as StorageEngineApi
}

describe('confirmVersion against an in-process network', () => {
  let net: EngineHarness
  let read: ReadSuccess
  const oid = objectId('confirm-test', 'one')
  const others = () => ['node-3', 'node-4', 'node-5'].map((id) => net.engine(id))

  beforeAll(async () => {
    net = await inProcessHarness(5)
    const put = await net.engine('node-1').putContent(oid, 1, new Uint8Array([5, 6, 7]), META)
    expect(put.ok).toBe(true)
    const got = await net.engine('node-2').getContent(oid, 1)
    if (!got.ok) throw new Error(got.code)
    read = got
  })
  afterAll(() => net.close())

  it('confirms a version every node asked lists with its hash_commit', async () => {
    const answer = await confirmVersion(others(), read)
    expect(answer).toEqual({
      ok: true,
      confirmed: true,
      agreeing: 3,
      answers: [0, 1, 2].map(() => ({ hash_commit: read.hash_commit })),
    })
  })

  it('does not confirm a made-up hash_commit, and says what the nodes list instead', async () => {
    const answer = await confirmVersion(others(), { ...read, hash_commit: FORGED })
    expect(answer).toMatchObject({ ok: true, confirmed: false, agreeing: 0 })
    if (answer.ok) expect(answer.answers).toEqual([0, 1, 2].map(() => ({ hash_commit: read.hash_commit })))
  })

  it('a version the nodes do not list is not confirmed (null answers)', async () => {
    const answer = await confirmVersion(others(), { ...read, version: 2 })
    expect(answer).toEqual({
      ok: true,
      confirmed: false,
      agreeing: 0,
      answers: [0, 1, 2].map(() => ({ hash_commit: null })),
    })
  })

  it('one liar among three neither confirms a forgery nor blocks the truth', async () => {
    const [a, b, c] = others()
    const asked = [lying(a!, FORGED), b!, c!]
    expect(await confirmVersion(asked, read)).toMatchObject({ confirmed: true, agreeing: 2 })
    expect(await confirmVersion(asked, { ...read, hash_commit: FORGED })).toMatchObject({
      confirmed: false,
      agreeing: 1,
    })
  })

  it('nodes whose listing fails count against: two of three failing is no confirmation', async () => {
    const [a, b, c] = others()
    const failing = (engine: StorageEngineApi): StorageEngineApi =>
      ({
        ...engine,
        listObjects: async () => ({
          ok: false,
          error_code: 'SE_ERR_NO_ELIGIBLE_NODES',
          error_detail: 'too few homes answered',
          code: 'QUORUM_NOT_REACHED',
          storage_event_id: null,
        }),
      }) as StorageEngineApi
    const answer = await confirmVersion([a!, failing(b!), failing(c!)], read)
    expect(answer).toEqual({
      ok: true,
      confirmed: false,
      agreeing: 1,
      answers: [
        { hash_commit: read.hash_commit },
        { code: 'QUORUM_NOT_REACHED' },
        { code: 'QUORUM_NOT_REACHED' },
      ],
    })
  })

  it('an engine that throws confirms nothing, and the others are still counted', async () => {
    const throwing = {
      listObjects: async () => {
        throw new Error('boom')
      },
    } as unknown as StorageEngineApi
    const answer = await confirmVersion([throwing, ...others()], read)
    expect(answer).toMatchObject({ ok: true, confirmed: true, agreeing: 3 })
    if (answer.ok) expect(answer.answers[0]).toEqual({ code: 'INTERNAL' })
  })
})

describe('confirmVersion: the majority rule', () => {
  const target = { object_id: objectId('confirm-test', 'rule'), version: 3, hash_commit: FORGED }
  const OTHER = toHex(sha3(new Uint8Array([9])))
  /** An engine whose listing answers `hash` for the version, none, or a failure. */
  const answering = (kind: 'same' | 'other' | 'none' | 'fail'): StorageEngineApi =>
    ({
      listObjects: async (): Promise<ListResponse> =>
        kind === 'fail'
          ? {
              ok: false,
              error_code: 'SE_ERR_INTERNAL',
              error_detail: 'x',
              code: 'NODE_UNAVAILABLE',
              storage_event_id: null,
            }
          : {
              ok: true,
              objects:
                kind === 'none'
                  ? []
                  : [
                      {
                        object_id: target.object_id,
                        version: target.version,
                        kind: 'UPDATE',
                        hash_commit: kind === 'same' ? FORGED : OTHER,
                        content_size: 1,
                        created_at_tick: 1,
                        metadata: normalizeMetadata({ author_node_id: 'a', created_at_tick: 1 }),
                      },
                    ],
              next_cursor: null,
              storage_event_id: OTHER,
            },
    }) as unknown as StorageEngineApi

  it('confirmed exactly when more than half of all the nodes asked list the same hash_commit', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.constantFrom('same', 'other', 'none', 'fail') as fc.Arbitrary<
            'same' | 'other' | 'none' | 'fail'
          >,
          {
            minLength: 1,
            maxLength: 9,
          },
        ),
        async (kinds) => {
          const answer = await confirmVersion(kinds.map(answering), target)
          if (!answer.ok) throw new Error(answer.code)
          const same = kinds.filter((k) => k === 'same').length
          expect(answer.agreeing).toBe(same)
          expect(answer.confirmed).toBe(same > kinds.length / 2)
          expect(answer.answers).toHaveLength(kinds.length)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('a page that starts at another version or object is "not listed"', async () => {
    const shifted = {
      listObjects: async (): Promise<ListResponse> => ({
        ok: true,
        objects: [
          {
            object_id: target.object_id,
            version: target.version + 1,
            kind: 'UPDATE',
            hash_commit: FORGED,
            content_size: 1,
            created_at_tick: 1,
            metadata: normalizeMetadata({ author_node_id: 'a', created_at_tick: 1 }),
          },
        ],
        next_cursor: null,
        storage_event_id: OTHER,
      }),
    } as unknown as StorageEngineApi
    expect(await confirmVersion([shifted], target)).toEqual({
      ok: true,
      confirmed: false,
      agreeing: 0,
      answers: [{ hash_commit: null }],
    })
  })

  it('asks each node for a page of one starting at the version', async () => {
    const seen: unknown[] = []
    const recording = {
      listObjects: async (filters: unknown): Promise<ListResponse> => {
        seen.push(filters)
        return { ok: true, objects: [], next_cursor: null, storage_event_id: OTHER }
      },
    } as unknown as StorageEngineApi
    await confirmVersion([recording], target)
    expect(seen).toEqual([
      { prefix: target.object_id, after: { object_id: target.object_id, version: 2 }, limit: 1 },
    ])
  })

  it('refuses bad input with INVALID_INPUT before asking anyone', async () => {
    let asked = 0
    const counting = {
      listObjects: async () => {
        asked++
        return { ok: true, objects: [], next_cursor: null, storage_event_id: OTHER }
      },
    } as unknown as StorageEngineApi
    for (const [engines, t] of [
      [[counting], { ...target, object_id: 'nope' }],
      [[counting], { ...target, hash_commit: FORGED.toUpperCase() }],
      [[counting], { ...target, version: 0 }],
      [[counting], { ...target, version: 1.5 }],
      [[counting], null],
      [[], target],
      ['not a list', target],
    ] as const) {
      const answer = await confirmVersion(engines as never, t as never)
      expect(answer).toMatchObject({ ok: false, code: 'INVALID_INPUT', error_code: 'SE_ERR_INVALID_INPUT' })
    }
    expect(asked).toBe(0)
  })
})
