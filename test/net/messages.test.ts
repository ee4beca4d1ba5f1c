import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { QfsError } from '../../src/core/errors.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import * as rep from '../../src/net/messages.js'
import * as pub from '../../src/net/messages-public.js'

const SEED = 0x5eed_3e55
const ID = 'cd'.repeat(32)

const parsers: Array<[string, (v: unknown) => unknown]> = [
  ['shard header', rep.parseShardHeader],
  ['staged shard', rep.parseStagedShardInfo],
  ['commit request', rep.parseCommitRequest],
  ['commit result', rep.parseCommitResult],
  ['abort request', rep.parseAbortRequest],
  ['ack', rep.parseAck],
  ['record request', rep.parseRecordRequest],
  ['record reply', (v) => rep.parseRecordReply(v, DEFAULT_PARAMS)],
  ['manifest request', (v) => rep.parseShardIdRequest(v, 'manifest request')],
  ['manifest reply', rep.parseManifestReply],
  ['fetch request', rep.parseFetchRequest],
  ['prove request', rep.parseProveRequest],
  ['proof reply', rep.parseProofReply],
  ['list request', rep.parseListRequest],
  ['write request', (v) => pub.parseWriteRequest(v, 1024)],
  ['read request', pub.parseReadRequest],
  ['proof request', pub.parseProofRequest],
  ['list objects request', pub.parseListObjectsRequest],
  ['failure', pub.parseFailure],
  ['store answer', pub.parseStoreSuccess],
  ['read header', (v) => pub.parseReadHeader(v, DEFAULT_PARAMS)],
  ['read trailer', pub.parseReadTrailer],
  ['proof answer', pub.parseProofSuccess],
  ['list header', pub.parseListHeader],
  ['object summary', pub.parseObjectSummary],
]

/** JSON values shaped like our messages often enough to get past the first checks. */
const messageLike = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(
      ID,
      'latest',
      'DELETE_MARKER',
      'SE_ERR_NOT_FOUND',
      '',
      'x',
      0,
      1,
      -1,
      2 ** 53,
      1.5,
      true,
      false,
      null,
    ),
    fc.string(),
    fc.integer(),
    fc.array(tie('value'), { maxLength: 3 }),
    tie('object'),
  ),
  object: fc.dictionary(
    fc.constantFrom(
      'object_id',
      'version',
      'shard_id',
      'shard_index',
      'length',
      'block_size_bytes',
      'staging_id',
      'node_id',
      'record',
      'staged',
      'ok',
      'code',
      'error_code',
      'error_detail',
      'storage_event_id',
      'leaf_index',
      'from_block',
      'content_size',
      'metadata',
      'filters',
      'limit',
      'extra',
    ),
    tie('value'),
    { maxKeys: 7 },
  ),
}))

describe('message validation is total', () => {
  for (const [name, parse] of parsers) {
    it(`${name}: any JSON value is accepted or refused with a typed error`, () => {
      fc.assert(
        fc.property(fc.oneof(messageLike.object, messageLike.value, fc.jsonValue()), (value) => {
          try {
            parse(value)
          } catch (err) {
            expect(err).toBeInstanceOf(QfsError)
          }
        }),
        { seed: SEED, numRuns: 300 },
      )
    })
  }

  it('accepts the documented shapes and nothing beside them', () => {
    const header = {
      object_id: ID,
      version: 1,
      shard_index: 0,
      shard_id: ID,
      length: 5,
      block_size_bytes: 262144,
    }
    expect(rep.parseShardHeader(header)).toEqual(header)
    expect(() => rep.parseShardHeader({ ...header, extra: 1 })).toThrow(/unknown field extra/)
    expect(() => rep.parseShardHeader({ ...header, version: 0 })).toThrow(QfsError)
    expect(rep.parseRecordRequest({ object_id: ID, version: 'latest' })).toEqual({
      object_id: ID,
      version: 'latest',
    })
    expect(() => rep.parseRecordRequest({ object_id: ID, version: 'newest' })).toThrow(QfsError)
    expect(
      pub.parseWriteRequest(
        { object_id: 'a', version: 1, content_size: 0, metadata: {}, kind: 'DELETE_MARKER' },
        10,
      ),
    ).toEqual({
      object_id: 'a',
      version: 1,
      content_size: 0,
      metadata: {},
      kind: 'DELETE_MARKER',
    })
    expect(() =>
      pub.parseWriteRequest({ object_id: 'a', version: 1, content_size: 11, metadata: {} }, 10),
    ).toThrow(expect.objectContaining({ code: 'CONTENT_TOO_LARGE' }))
    expect(() =>
      pub.parseWriteRequest(
        { object_id: 'a', version: 1, content_size: 1, metadata: {}, kind: 'DELETE_MARKER' },
        10,
      ),
    ).toThrow(QfsError)
    expect(
      pub.parseFailure({
        ok: false,
        error_code: 'SE_ERR_NOT_FOUND',
        error_detail: 'no',
        code: 'NOT_FOUND',
        storage_event_id: null,
      }),
    ).toEqual({
      ok: false,
      error_code: 'SE_ERR_NOT_FOUND',
      error_detail: 'no',
      code: 'NOT_FOUND',
      storage_event_id: null,
    })
  })
})
