import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { QfsError } from '../../src/core/errors.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import * as rep from '../../src/net/messages.js'
import * as pub from '../../src/net/messages-public.js'
import { forgeRecord } from '../engine/forged-record.js'
import { qfsErrorCode as codeOf } from '../helpers/qfs-error-code.js'

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

/** Limits of docs/protocol.md sections 4.6-4.8 and "Messages", at their boundaries. */
describe('documented message limits at their boundaries', () => {
  const HEX = 'ab'.repeat(32)
  const staged = (node_id: unknown, staging_id: unknown) => ({
    node_id,
    staging_id,
    shard_id: HEX,
    length: 1,
    leaf_count: 1,
    merkle_root: HEX,
  })
  const commit = (extra: Record<string, unknown>) => ({
    record: {},
    staged: [{ shard_id: HEX, staging_id: 's' }],
    ...extra,
  })
  const acceptance = (signature: unknown) => ({ node_id: 'n', signature })

  it('holds staging ids and node ids to 1..128 characters, well-formed text', () => {
    for (const parse of [(v: string) => staged('n', v), (v: string) => staged(v, 's')]) {
      expect(codeOf(() => rep.parseStagedShardInfo(parse('x'.repeat(128))))).toBe('NO_ERROR')
      expect(codeOf(() => rep.parseStagedShardInfo(parse('x'.repeat(129))))).toBe('INVALID_INPUT')
      expect(codeOf(() => rep.parseStagedShardInfo(parse('')))).toBe('INVALID_INPUT')
      expect(codeOf(() => rep.parseStagedShardInfo(parse('a\ud800b')))).toBe('INVALID_INPUT')
    }
  })

  it('requires each staged entry of a commit to name its staging_id', () => {
    expect(codeOf(() => rep.parseCommitRequest(commit({})))).toBe('NO_ERROR')
    for (const staged of [{}, 's', null, 1])
      expect(
        codeOf(() => rep.parseCommitRequest(commit({ staged }))),
        String(staged),
      ).toBe('INVALID_INPUT')
    expect(codeOf(() => rep.parseCommitRequest(commit({ staged: [{ shard_id: HEX }] })))).toBe(
      'INVALID_INPUT',
    )
  })

  it('takes at most 64 acceptances, each signature lower-case hex of even length, at most 1024', () => {
    const many = (n: number) => commit({ acceptances: Array.from({ length: n }, () => acceptance('ab')) })
    expect(codeOf(() => rep.parseCommitRequest(many(64)))).toBe('NO_ERROR')
    expect(codeOf(() => rep.parseCommitRequest(many(65)))).toBe('INVALID_INPUT')
    const sig = (s: string) => codeOf(() => rep.parseCommitRequest(commit({ acceptances: [acceptance(s)] })))
    expect(sig('a'.repeat(1024))).toBe('NO_ERROR')
    expect(sig('a'.repeat(1026))).toBe('INVALID_INPUT')
    for (const bad of ['', 'abc', 'AB', 'zz', 'a'.repeat(1025)]) expect(sig(bad), bad).toBe('INVALID_INPUT')
  })

  it('takes at most 1024 staging ids in one abort', () => {
    const abort = (n: number) => ({ staging_ids: Array.from({ length: n }, (_, i) => `s${i}`) })
    expect(rep.parseAbortRequest(abort(1024))).toHaveLength(1024)
    expect(codeOf(() => rep.parseAbortRequest(abort(1025)))).toBe('INVALID_INPUT')
  })

  it('accepts only {"ok":true} as an acknowledgement', () => {
    expect(codeOf(() => rep.parseAck({ ok: true }))).toBe('NO_ERROR')
    for (const ok of [1, 'true', null, {}]) expect(codeOf(() => rep.parseAck({ ok }))).toBe('INVALID_INPUT')
  })

  it('refuses version 0, block size 0 and ids that are not 64 lower-case hex characters', () => {
    expect(codeOf(() => rep.parseRecordRequest({ object_id: HEX, version: 0 }))).toBe('INVALID_INPUT')
    expect(codeOf(() => rep.parseRecordRequest({ object_id: HEX, version: 1 }))).toBe('NO_ERROR')
    const header = { object_id: HEX, version: 1, shard_index: 0, shard_id: HEX, length: 0 }
    expect(codeOf(() => rep.parseShardHeader({ ...header, block_size_bytes: 1 }))).toBe('NO_ERROR')
    expect(codeOf(() => rep.parseShardHeader({ ...header, block_size_bytes: 0 }))).toBe('INVALID_INPUT')
    for (const id of [HEX.toUpperCase(), `${HEX}a`, HEX.slice(1), `${HEX.slice(1)}g`])
      expect(
        codeOf(() => rep.parseShardIdRequest({ shard_id: id }, 'm')),
        id,
      ).toBe('INVALID_INPUT')
  })

  it('takes from_block and leaf_index only as counts: no negatives, fractions or unsafe integers', () => {
    for (const n of [-1, 0.5, 2 ** 53, '1', null]) {
      expect(
        codeOf(() => rep.parseFetchRequest({ shard_id: HEX, from_block: n })),
        String(n),
      ).toBe('INVALID_INPUT')
      expect(
        codeOf(() => rep.parseProveRequest({ shard_id: HEX, leaf_index: n })),
        String(n),
      ).toBe('INVALID_INPUT')
    }
    expect(rep.parseFetchRequest({ shard_id: HEX, from_block: 2 ** 53 - 1 }).from_block).toBe(2 ** 53 - 1)
  })

  it('takes only padded standard base64 as a proof block', () => {
    const proof = (block: string) => ({
      object_id: HEX,
      version: 1,
      shard_id: HEX,
      leaf_index: 0,
      leaf_count: 1,
      block,
      leaf_hash: HEX,
      audit_path: [],
      merkle_root: HEX,
    })
    for (const good of ['QQ==', 'QUI=', 'QUJD', Buffer.from('any bytes?').toString('base64')])
      expect(
        codeOf(() => rep.parseStorageProof(proof(good))),
        good,
      ).toBe('NO_ERROR')
    for (const bad of ['QQ', 'Q===', '=QQQ', 'QQ==QUJD', 'QUJ', 'Q-_A'])
      expect(
        codeOf(() => rep.parseStorageProof(proof(bad))),
        bad,
      ).toBe('INVALID_INPUT')
  })
})

/** The public messages' limits (docs/protocol.md 4.2-4.5, "Messages"), at their boundaries. */
describe('documented public message limits at their boundaries', () => {
  const HEX = 'ef'.repeat(32)
  const write = (extra: Record<string, unknown>) => ({
    object_id: 'a',
    version: 1,
    content_size: 10,
    metadata: {},
    ...extra,
  })

  it('takes content_size up to the node limit exactly, and kind only DELETE_MARKER', () => {
    expect(codeOf(() => pub.parseWriteRequest(write({}), 10))).toBe('NO_ERROR')
    expect(codeOf(() => pub.parseWriteRequest(write({ content_size: 11 }), 10))).toBe('CONTENT_TOO_LARGE')
    for (const kind of ['STORE', 'UPDATE', 'delete_marker', null])
      expect(
        codeOf(() => pub.parseWriteRequest(write({ kind }), 10)),
        String(kind),
      ).toBe('INVALID_INPUT')
    for (const epoch of [-1, 1.5, 2 ** 53, '1'])
      expect(
        codeOf(() => pub.parseWriteRequest(write({ epoch }), 10)),
        String(epoch),
      ).toBe('INVALID_INPUT')
    expect(codeOf(() => pub.parseReadRequest({ object_id: 7 }))).toBe('INVALID_INPUT')
  })

  it('holds a failure to ok false, code of at most 64 and error_detail of at most 1024 characters', () => {
    const failure = (extra: Record<string, unknown>) => ({
      ok: false,
      error_code: 'SE_ERR_NOT_FOUND',
      error_detail: 'no',
      code: 'NOT_FOUND',
      storage_event_id: null,
      ...extra,
    })
    expect(codeOf(() => pub.parseFailure(failure({ code: 'C'.repeat(64) })))).toBe('NO_ERROR')
    expect(codeOf(() => pub.parseFailure(failure({ code: 'C'.repeat(65) })))).toBe('INVALID_INPUT')
    expect(codeOf(() => pub.parseFailure(failure({ error_detail: 'd'.repeat(1024) })))).toBe('NO_ERROR')
    expect(codeOf(() => pub.parseFailure(failure({ error_detail: 'd'.repeat(1025) })))).toBe('INVALID_INPUT')
    expect(codeOf(() => pub.parseFailure(failure({ ok: true })))).toBe('INVALID_INPUT')
  })

  it('takes atr_cost only as BigNum128 text with exactly 18 fraction digits, and known kinds', () => {
    const store = (extra: Record<string, unknown>) => ({
      ok: true,
      object_id: HEX,
      version: 1,
      kind: 'STORE',
      hash_commit: HEX,
      content_size: 0,
      shard_ids: [],
      replica_sets: {},
      atr_cost: '100.000000000000000000',
      under_replicated: {},
      storage_event_id: HEX,
      ...extra,
    })
    expect(codeOf(() => pub.parseStoreSuccess(store({})))).toBe('NO_ERROR')
    expect(codeOf(() => pub.parseStoreSuccess(store({ atr_cost: '0.000000000000000000' })))).toBe('NO_ERROR')
    for (const atr_cost of ['100.5', '100', '0100.000000000000000000', '-1.000000000000000000'])
      expect(
        codeOf(() => pub.parseStoreSuccess(store({ atr_cost }))),
        atr_cost,
      ).toBe('INVALID_INPUT')
    for (const kind of ['DELETE_MARKER', 'UPDATE'])
      expect(codeOf(() => pub.parseStoreSuccess(store({ kind })))).toBe('NO_ERROR')
    expect(codeOf(() => pub.parseStoreSuccess(store({ kind: 'PURGE' })))).toBe('INVALID_INPUT')
  })
})

describe('read header against its own record (docs/protocol.md 4.3)', () => {
  it('refuses a header whose object_id, version, kind, hash_commit or content_size differs from its record', () => {
    const nodes = Array.from({ length: DEFAULT_PARAMS.replicationFactor }, (_, i) => `node${i}`)
    const { record } = forgeRecord({
      oid: 'ef'.repeat(32),
      version: 1,
      content: new Uint8Array(10),
      replicas: Array(DEFAULT_PARAMS.numShardsPerObject).fill(nodes),
      homes: nodes,
    })
    const header = {
      ok: true,
      object_id: record.object_id,
      version: record.version,
      kind: record.kind,
      hash_commit: record.hash_commit,
      content_size: record.content_size,
      metadata: record.metadata,
      record,
      storage_event_id: '12'.repeat(32),
    }
    expect(pub.parseReadHeader(header, DEFAULT_PARAMS).record).toEqual(record)
    for (const change of [
      { object_id: '34'.repeat(32) },
      { version: 2 },
      { kind: 'UPDATE' },
      { hash_commit: '56'.repeat(32) },
      { content_size: 11 },
    ])
      expect(
        () => pub.parseReadHeader({ ...header, ...change }, DEFAULT_PARAMS),
        JSON.stringify(change),
      ).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }))
  })
})
