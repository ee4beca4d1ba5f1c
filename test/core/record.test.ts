import { sha3_256 } from '@noble/hashes/sha3.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { hashCommit } from '../../src/core/commit.js'
import { objectId, shardId } from '../../src/core/ids.js'
import { metadataSeed, normalizeMetadata } from '../../src/core/metadata.js'
import { DEFAULT_PARAMS, type ProtocolParams } from '../../src/core/params.js'
import { EligibleSet } from '../../src/core/placement.js'
import {
  recordDigest,
  recordWireBytes,
  type VersionRecord,
  validateVersionRecord,
} from '../../src/core/record.js'
import { computeShardLayout } from '../../src/core/shards.js'
import { errorCode } from '../helpers/core-vectors.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const PARAMS: ProtocolParams = { ...DEFAULT_PARAMS, blockSizeBytes: 1024 }
const NODES = new EligibleSet(['n1', 'n2', 'n3', 'n4', 'n5', 'n6'])

function makeRecord(content: Uint8Array, version = 1, kind: VersionRecord['kind'] = 'STORE'): VersionRecord {
  const oid = objectId('qfs/test', 'record')
  const metadata = normalizeMetadata({ author_node_id: 'n1', created_at_tick: 5, tags: ['B', 'a'] })
  return {
    object_id: oid,
    version,
    kind,
    hash_commit: hex(hashCommit(content, 1, metadataSeed(metadata))),
    content_size: content.length,
    metadata,
    schema_version: 1,
    block_size_bytes: PARAMS.blockSizeBytes,
    epoch: 3,
    timestamp_tick: 4000,
    atr_cost: '100.000000000000000000',
    shards: computeShardLayout(content, PARAMS).map((s) => {
      const sid = shardId(oid, version, s.index)
      return {
        shard_index: s.index,
        shard_id: sid,
        length: s.length,
        leaf_count: s.blockCount,
        merkle_root: hex(s.merkleRoot),
        replicas: NODES.place(sid, 3).selected,
      }
    }),
    catalogue_homes: NODES.catalogueHomes(oid, 3),
  }
}

// Canonical JSON written independently: keys sorted (ASCII here), no spaces.
function sortedJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${sortedJson(o[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(v)
}

const clone = (r: VersionRecord) => JSON.parse(JSON.stringify(r)) as VersionRecord

describe('validateVersionRecord', () => {
  it('accepts consistent records and returns an equal fresh copy', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 9000 }), fc.integer({ min: 1, max: 50 }), (content, version) => {
        const record = makeRecord(content, version, version === 1 ? 'STORE' : 'UPDATE')
        const wire = clone(record)
        const checked = validateVersionRecord(wire, PARAMS)
        expect(checked).toEqual(record)
        expect(checked).not.toBe(wire)
        expect(checked.shards[0]).not.toBe(wire.shards[0])
        expect(recordDigest(checked)).toBe(hex(sha3_256(new TextEncoder().encode(sortedJson(record)))))
      }),
      { seed: 1323, numRuns: 60 },
    )
  })

  it('accepts a delete marker and empty content', () => {
    const marker = makeRecord(new Uint8Array(0), 3, 'DELETE_MARKER')
    expect(validateVersionRecord(clone(marker), PARAMS)).toEqual(marker)
    expect(
      validateVersionRecord(clone(makeRecord(new Uint8Array(0))), PARAMS).shards.every(
        (s) => s.leaf_count === 0,
      ),
    ).toBe(true)
  })

  it('rejects every inconsistency with INVALID_INPUT', () => {
    const content = Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff)
    const good = makeRecord(content, 2, 'UPDATE')
    const other = makeRecord(Uint8Array.of(1, 2, 3), 2, 'UPDATE')
    const shard = (i: number, patch: Record<string, unknown>) =>
      good.shards.map((s, j) => (j === i ? { ...s, ...patch } : s))
    const mutations: Record<string, unknown>[] = [
      { extra: 1 },
      { object_id: good.object_id.toUpperCase() },
      { object_id: 5 },
      { version: 0 },
      { version: 2.5 },
      { version: Number.MAX_SAFE_INTEGER + 1 },
      { kind: 'update' },
      { kind: 'STORE' },
      { kind: 'DELETE_MARKER' },
      { hash_commit: 'ab' },
      { content_size: content.length + 1 },
      { content_size: -1 },
      { schema_version: 2 ** 32 },
      { schema_version: true },
      { block_size_bytes: 0 },
      { block_size_bytes: 2048 },
      { epoch: -1 },
      { timestamp_tick: 1.5 },
      { atr_cost: '100' },
      { atr_cost: '100.5' },
      { atr_cost: '01.000000000000000000' },
      { atr_cost: '-1.000000000000000000' },
      { atr_cost: 100 },
      { shards: good.shards.slice(0, 3) },
      { shards: [...good.shards, good.shards[0]] },
      { shards: [good.shards[1], good.shards[0], ...good.shards.slice(2)] },
      { shards: other.shards },
      { shards: shard(0, { shard_id: shardId(good.object_id, 1, 0) }) },
      { shards: shard(1, { shard_index: 0 }) },
      { shards: shard(1, { length: good.shards[1]!.length - 1 }) },
      { shards: shard(2, { leaf_count: good.shards[2]!.leaf_count + 1 }) },
      { shards: shard(2, { merkle_root: 'XY'.repeat(32) }) },
      { shards: shard(3, { replicas: ['n1', 'n2'] }) },
      { shards: shard(3, { replicas: ['n1', 'n2', 'n1'] }) },
      { shards: shard(3, { replicas: ['n1', 'n2', ''] }) },
      { shards: shard(3, { replicas: ['n1', 'n2', 3] }) },
      { shards: shard(3, { replicas: 'n1' }) },
      { shards: shard(0, { extra: 1 }) },
      { shards: shard(0, { replicas: undefined }) },
      { shards: 'shards' },
      { catalogue_homes: ['n1', 'n2'] },
      { catalogue_homes: ['n1', 'n1', 'n2'] },
      { catalogue_homes: null },
    ]
    mutations.forEach((m, i) => {
      expect(
        errorCode(() => validateVersionRecord({ ...clone(good), ...m }, PARAMS)),
        `mutation ${i}`,
      ).toBe('INVALID_INPUT')
    })
    const { epoch: _, ...missing } = clone(good)
    expect(errorCode(() => validateVersionRecord(missing, PARAMS))).toBe('INVALID_INPUT')
    for (const bad of [null, [], 'record', 7])
      expect(errorCode(() => validateVersionRecord(bad, PARAMS))).toBe('INVALID_INPUT')
    // An empty shard's root is H(""), nothing else.
    const small = clone(makeRecord(Uint8Array.of(1, 2, 3)))
    small.shards[3]!.merkle_root = small.shards[0]!.merkle_root
    expect(errorCode(() => validateVersionRecord(small, PARAMS))).toBe('INVALID_INPUT')
    // The replication factor and shard count come from the parameters.
    expect(errorCode(() => validateVersionRecord(clone(good), { ...PARAMS, replicationFactor: 2 }))).toBe(
      'INVALID_INPUT',
    )
    expect(errorCode(() => validateVersionRecord(clone(good), { ...PARAMS, numShardsPerObject: 5 }))).toBe(
      'INVALID_INPUT',
    )
    expect(validateVersionRecord(clone(good), { ...PARAMS, blockSizeBytes: 4096 })).toEqual(good)
  })

  // The mutation pass found these three unpinned: the `good` record above is an UPDATE at version 2,
  // so no case put UPDATE at version 1, the u32 top value of schema_version, or a non-plain object.
  it('takes UPDATE only after version 1 and schema_version up to 2^32 - 1', () => {
    const content = Uint8Array.of(1, 2, 3)
    expect(errorCode(() => validateVersionRecord(clone(makeRecord(content, 1, 'UPDATE')), PARAMS))).toBe(
      'INVALID_INPUT',
    )
    const top = { ...makeRecord(content), schema_version: 0xffffffff }
    expect(validateVersionRecord(clone(top), PARAMS)).toEqual(top)
  })

  it('rejects a record or shard descriptor that is not a plain object', () => {
    // What a prototype carries is invisible to the exact-keys check; only JSON-shaped data is taken.
    const good = clone(makeRecord(Uint8Array.of(1, 2, 3)))
    const inherited = Object.assign(Object.create({ kind: 'STORE' }), good)
    expect(errorCode(() => validateVersionRecord(inherited, PARAMS))).toBe('INVALID_INPUT')
    const shards = good.shards.map((sh, i) => (i === 0 ? Object.assign(Object.create({}), sh) : sh))
    expect(errorCode(() => validateVersionRecord({ ...good, shards }, PARAMS))).toBe('INVALID_INPUT')
    expect(validateVersionRecord(Object.assign(Object.create(null), good), PARAMS)).toEqual(good)
  })

  it('refuses a shard of more than 2^32 - 1 blocks even when the record is consistent', () => {
    // No tree holds more leaves (u32 leaf counts, challenge indices). The mutation pass found the
    // bound removable: no record in the tests came near it. 2^44 bytes in 4 shards of 1 KiB blocks
    // is 2^32 blocks a shard; the fields are otherwise exactly what the formulas give.
    const r = clone(makeRecord(Uint8Array.of(1)))
    const size = 2 ** 44
    const shardLength = size / 4
    const record = {
      ...r,
      content_size: size,
      shards: r.shards.map((s) => ({ ...s, length: shardLength, leaf_count: shardLength / 1024 })),
    }
    expect(errorCode(() => validateVersionRecord(record, PARAMS))).toBe('INVALID_INPUT')
    const fits = (2 ** 32 - 1) * 1024 * 4
    const ok = {
      ...r,
      content_size: fits,
      shards: r.shards.map((s) => ({ ...s, length: fits / 4, leaf_count: 2 ** 32 - 1 })),
    }
    expect(validateVersionRecord(ok, PARAMS).shards[3]!.leaf_count).toBe(2 ** 32 - 1)
  })

  it('measures wire size in UTF-8 bytes of the canonical JSON', () => {
    // The mutation pass found UTF-16 length unpinned: it differs only beyond ASCII.
    const metadata = normalizeMetadata({ author_node_id: 'nœud-😀', created_at_tick: 5, tags: ['été'] })
    const r = { ...makeRecord(Uint8Array.of(1, 2)), metadata }
    expect(recordWireBytes(r)).toBe(Buffer.byteLength(sortedJson(r), 'utf8'))
    expect(recordWireBytes(r)).toBeGreaterThan(sortedJson(r).length)
  })

  it('rejects metadata that is invalid or not in normal form with INVALID_METADATA', () => {
    const good = makeRecord(Uint8Array.of(9))
    const m = good.metadata
    for (const metadata of [
      { ...m, tags: ['b', 'a'] },
      { ...m, tags: ['A', 'b'] },
      { author_node_id: m.author_node_id, created_at_tick: m.created_at_tick },
      { ...m, openagi_score: undefined },
      { ...m, created_at_tick: -1 },
      { ...m, extra: 1 },
      null,
    ]) {
      expect(errorCode(() => validateVersionRecord({ ...clone(good), metadata }, PARAMS))).toBe(
        'INVALID_METADATA',
      )
    }
  })

  it('digests records by their canonical JSON, so key order does not matter', () => {
    const r = makeRecord(Uint8Array.of(1, 2, 3, 4, 5))
    const reordered = Object.fromEntries(Object.entries(r).reverse()) as unknown as VersionRecord
    expect(recordDigest(reordered)).toBe(recordDigest(r))
    expect(recordDigest({ ...r, epoch: 4 })).not.toBe(recordDigest(r))
  })
})
