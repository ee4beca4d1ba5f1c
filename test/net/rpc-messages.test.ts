import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { QfsError } from '../../src/core/errors.js'
import { objectId, shardId } from '../../src/core/ids.js'
import {
  MAX_INLINE_SHARD_BYTES,
  MAX_RPC_ID,
  MAX_STAGE_SHARDS,
  parseRpcReply,
  parseRpcRequest,
  parseSnapshotReply,
  parseSnapshotRequest,
  parseStageReply,
  parseStageRequest,
  RPC_OPS,
  requestIdOf,
  stageLengths,
} from '../../src/net/rpc-messages.js'

const SEED = 0x5eed_79c0
const U32_MAX = 4_294_967_295
const ERROR = { code: 'NOT_FOUND', error_code: 'SE_ERR_NOT_FOUND', error_detail: 'no such shard' }

/** The code of what `fn` throws (undefined when it returns); anything but a QfsError fails the test. */
function thrownCode(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    if (!(err instanceof QfsError)) throw err
    return err.code
  }
}

const badIds: unknown[] = [-1, U32_MAX + 1, 1.5, '1', null, true, [1], { id: 1 }, 2 ** 53]

/** JSON values shaped like envelopes often enough to get past the first checks. */
const envelopeLike = fc.record(
  {
    id: fc.oneof(fc.integer({ min: -2, max: U32_MAX + 2 }), fc.jsonValue()),
    op: fc.oneof(fc.constantFrom(...RPC_OPS, 'nope', ''), fc.jsonValue()),
    ok: fc.oneof(fc.boolean(), fc.jsonValue()),
    body: fc.oneof(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 }), fc.jsonValue()),
    data: fc.oneof(fc.boolean(), fc.jsonValue()),
    error: fc.oneof(fc.constant(ERROR), fc.jsonValue()),
    extra: fc.jsonValue(),
  },
  { requiredKeys: [] },
)

describe('replica/rpc envelope', () => {
  it('reads every request with a u32 id, a known op and an object body, as sent', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: U32_MAX }),
        fc.constantFrom(...RPC_OPS),
        fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 4 }),
        (id, op, body) => {
          expect(parseRpcRequest({ id, op, body })).toEqual({ id, op, body })
          expect(requestIdOf({ id, op: 'anything', body: 5, more: true })).toBe(id)
        },
      ),
      { seed: SEED, numRuns: 200 },
    )
    expect(MAX_RPC_ID).toBe(U32_MAX)
  })

  it('refuses a request with a bad id, op, body or key set (INVALID_INPUT), and finds no id in it', () => {
    const body = { object_id: 'ab'.repeat(32), version: 1 }
    for (const id of badIds) {
      expect(thrownCode(() => parseRpcRequest({ id, op: 'record', body }))).toBe('INVALID_INPUT')
      expect(requestIdOf({ id, op: 'record', body })).toBeUndefined()
    }
    for (const bad of [
      { id: 1, op: 'nope', body },
      { id: 1, op: 'RECORD', body },
      { id: 1, op: 7, body },
      { id: 1, op: 'record', body: null },
      { id: 1, op: 'record', body: [] },
      { id: 1, op: 'record', body: 'x' },
      { id: 1, op: 'record' },
      { id: 1, body },
      { id: 1, op: 'record', body, extra: 0 },
    ]) {
      expect(thrownCode(() => parseRpcRequest(bad))).toBe('INVALID_INPUT')
      // The id is still usable: the failure is answered under it.
      expect(requestIdOf(bad)).toBe(1)
    }
    for (const notObject of [null, 1, 'x', [], [{ id: 1 }], undefined]) {
      expect(requestIdOf(notObject)).toBeUndefined()
      expect(thrownCode(() => parseRpcRequest(notObject))).toBe('INVALID_INPUT')
    }
  })

  it('reads both reply shapes', () => {
    expect(parseRpcReply({ id: 0, ok: true, body: { blocks: 1 }, data: true })).toEqual({
      id: 0,
      ok: true,
      body: { blocks: 1 },
      data: true,
    })
    expect(parseRpcReply({ id: U32_MAX, ok: false, error: ERROR })).toEqual({
      id: U32_MAX,
      ok: false,
      error: ERROR,
    })
  })

  it('refuses a malformed reply with a typed error', () => {
    const cases: Array<[unknown, string]> = [
      [{ id: 1, ok: true, body: {} }, 'INVALID_INPUT'],
      [{ id: 1, ok: true, body: {}, data: 'yes' }, 'INVALID_INPUT'],
      [{ id: 1, ok: true, body: [], data: false }, 'INVALID_INPUT'],
      [{ id: 1, ok: true, body: {}, data: false, error: ERROR }, 'INVALID_INPUT'],
      [{ id: 1, ok: 'true', body: {}, data: false }, 'INVALID_INPUT'],
      [{ id: 1, ok: false, error: ERROR, body: {} }, 'INVALID_INPUT'],
      [{ id: 1, ok: false }, 'INVALID_INPUT'],
      [{ id: 1, ok: false, error: { ...ERROR, code: 'lower' } }, 'FRAME_INVALID'],
      [{ id: 1, ok: false, error: { ...ERROR, error_code: 'SE_ERR_NOPE' } }, 'FRAME_INVALID'],
      [{ ok: true, body: {}, data: false }, 'INVALID_INPUT'],
      [null, 'INVALID_INPUT'],
      [[], 'INVALID_INPUT'],
    ]
    for (const [value, code] of cases) expect(thrownCode(() => parseRpcReply(value))).toBe(code)
    for (const id of badIds) {
      expect(thrownCode(() => parseRpcReply({ id, ok: true, body: {}, data: false }))).toBe('INVALID_INPUT')
      expect(thrownCode(() => parseRpcReply({ id, ok: false, error: ERROR }))).toBe('INVALID_INPUT')
    }
  })

  it('is total over JSON: every input parses or throws a typed error, and requestIdOf never throws', () => {
    fc.assert(
      fc.property(fc.oneof(envelopeLike, fc.jsonValue()), (value) => {
        thrownCode(() => parseRpcRequest(value))
        thrownCode(() => parseRpcReply(value))
        const id = requestIdOf(value)
        if (id !== undefined) expect(Number.isSafeInteger(id) && id >= 0 && id <= U32_MAX).toBe(true)
      }),
      { seed: SEED, numRuns: 1000 },
    )
  })
})

describe('stage request and answer', () => {
  const OID = objectId('rpc-messages', 'stage')
  const header = (index: number, length: number) => ({
    object_id: OID,
    version: 1,
    shard_index: index,
    shard_id: shardId(OID, 1, index),
    length,
    block_size_bytes: 262_144,
  })

  it('delimits exactly the bytes its headers announce, within the bounds, and nothing else (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: MAX_INLINE_SHARD_BYTES }), {
          minLength: 0,
          maxLength: MAX_STAGE_SHARDS + 2,
        }),
        (lengths) => {
          const body = { shards: lengths.map((n, i) => header(i % 4, n)) }
          const total = lengths.reduce((a, b) => a + b, 0)
          const valid =
            lengths.length >= 1 && lengths.length <= MAX_STAGE_SHARDS && total <= MAX_INLINE_SHARD_BYTES
          if (valid) {
            expect(stageLengths(body)).toEqual(lengths)
            expect(parseStageRequest(body).map((h) => h.length)).toEqual(lengths)
          } else {
            expect(thrownCode(() => stageLengths(body))).toBe('INVALID_INPUT')
            expect(thrownCode(() => parseStageRequest(body))).toBe('INVALID_INPUT')
          }
        },
      ),
      { seed: SEED, numRuns: 300 },
    )
  })

  it('takes an answer only if it lists the shards asked for, in order, from the node asked', () => {
    const asked = [header(0, 10), header(2, 0)]
    const staged = (node: string, id: string) => ({
      node_id: node,
      staging_id: 'ab'.repeat(16),
      shard_id: id,
      length: 10,
      leaf_count: 1,
      merkle_root: 'cd'.repeat(32),
    })
    const good = { staged: [staged('n1', asked[0]!.shard_id), staged('n1', asked[1]!.shard_id)] }
    expect(parseStageReply(good, asked, 'n1').map((s) => s.shard_id)).toEqual(asked.map((h) => h.shard_id))
    for (const bad of [
      { staged: [...good.staged].reverse() },
      { staged: good.staged.slice(0, 1) },
      { staged: [staged('n2', asked[0]!.shard_id), staged('n2', asked[1]!.shard_id)] },
      { staged: good.staged, extra: 1 },
      { staged: 'no' },
      null,
    ])
      expect(thrownCode(() => parseStageReply(bad, asked, 'n1'))).toBe('INVALID_INPUT')
  })

  it('is total over JSON: every body parses or throws a typed error', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.record({ shards: fc.array(fc.jsonValue(), { maxLength: 4 }) }), fc.jsonValue()),
        (body) => {
          thrownCode(() => stageLengths(body))
          thrownCode(() => parseStageRequest(body))
          thrownCode(() => parseStageReply(body, [header(0, 1)], 'n1'))
        },
      ),
      { seed: SEED, numRuns: 500 },
    )
  })
})

describe('snapshot request and answer', () => {
  it('reads `{epoch}` with a count for epoch, and refuses anything else with INVALID_INPUT', () => {
    expect(parseSnapshotRequest({ epoch: 0 })).toBe(0)
    expect(parseSnapshotRequest({ epoch: 2 ** 53 - 1 })).toBe(2 ** 53 - 1)
    for (const bad of [
      {},
      { epoch: -1 },
      { epoch: 1.5 },
      { epoch: '1' },
      { epoch: null },
      { epoch: 2 ** 53 },
      { epoch: 1, extra: 0 },
      { epochs: 1 },
      null,
      [],
      'x',
    ])
      expect(
        thrownCode(() => parseSnapshotRequest(bad)),
        JSON.stringify(bad),
      ).toBe('INVALID_INPUT')
  })

  it('takes an answer only as `{snapshot: object}`, leaving the snapshot to be verified by the caller', () => {
    const snapshot = { epoch: 3, anything: ['the caller verifies it'] }
    expect(parseSnapshotReply({ snapshot })).toEqual(snapshot)
    for (const bad of [
      {},
      { snapshot: null },
      { snapshot: [] },
      { snapshot: 'x' },
      { snapshot, extra: 0 },
      { snapshots: snapshot },
      null,
    ])
      expect(
        thrownCode(() => parseSnapshotReply(bad)),
        JSON.stringify(bad),
      ).toBe('INVALID_INPUT')
  })

  it('is total over JSON: every body parses or throws a typed error', () => {
    fc.assert(
      fc.property(fc.oneof(fc.record({ epoch: fc.jsonValue() }), fc.jsonValue()), (body) => {
        thrownCode(() => parseSnapshotRequest(body))
        thrownCode(() => parseSnapshotReply(body))
      }),
      { seed: SEED, numRuns: 300 },
    )
  })
})

/** docs/protocol.md "replica/rpc": at most 16 shards and 262_144 inline bytes per stage, at the boundary. */
describe('stage limits at their boundaries', () => {
  const body = (lengths: number[]) => ({ shards: lengths.map((length) => ({ length })) })

  it('takes 1..16 shards and refuses 0 or 17', () => {
    expect(stageLengths(body(Array(16).fill(1)))).toHaveLength(16)
    expect(thrownCode(() => stageLengths(body(Array(17).fill(1))))).toBe('INVALID_INPUT')
    expect(thrownCode(() => stageLengths(body([])))).toBe('INVALID_INPUT')
  })

  it('takes exactly 262_144 inline bytes and refuses one more', () => {
    expect(stageLengths(body([262_000, 144]))).toEqual([262_000, 144])
    expect(thrownCode(() => stageLengths(body([262_000, 145])))).toBe('INVALID_INPUT')
  })
})
