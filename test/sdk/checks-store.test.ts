import { describe, expect, it } from 'vitest'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import type { StoreSuccess } from '../../src/engine/responses.js'
import { checkStoreAnswer, type StoreExpectation } from '../../src/sdk/checks.js'
import { type Fixture, fixture, HOLDERS, honestStore } from './stub.js'

/**
 * checkStoreAnswer on its own: each field of an honest answer changed alone must be refused, with
 * the reason naming it (a check dropped or moved to another field would let that lie through).
 */
describe('checkStoreAnswer', () => {
  const f: Fixture = fixture('check-store', 2 * 262_144 + 1)
  const expected: StoreExpectation = {
    objectId: f.oid,
    version: 1,
    kind: 'STORE',
    contentSize: f.content.length,
    hashCommit: f.record.hash_commit,
    params: DEFAULT_PARAMS,
  }
  const honest = () => structuredClone(honestStore(f)) as unknown as StoreSuccess
  const ids = f.record.shards.map((s) => s.shard_id)
  const other = fixture('check-store-other', 2 * 262_144 + 1)

  it('accepts the honest answer', () => {
    expect(checkStoreAnswer(honest(), expected)).toBeUndefined()
  })

  const lies: [string, (a: StoreSuccess) => void, RegExp][] = [
    ['another object', (a) => (a.object_id = other.oid), /object/],
    ['another version', (a) => (a.version = 2), /version 2/],
    ['another kind', (a) => (a.kind = 'UPDATE'), /UPDATE/],
    ['another content_size', (a) => (a.content_size = f.content.length - 1), /bytes/],
    ['another hash_commit', (a) => (a.hash_commit = 'ab'.repeat(32)), /commits to/],
    ['shard ids swapped', (a) => a.shard_ids.reverse(), /shard_id formula/],
    [
      'the shard ids of another object',
      (a) => (a.shard_ids = other.record.shards.map((s) => s.shard_id)),
      /shard_id formula/,
    ],
    ['a shard id missing', (a) => a.shard_ids.pop(), /shard_id formula/],
    [
      'a replica set for an unknown shard besides every shard',
      (a) => (a.replica_sets['cd'.repeat(32)] = HOLDERS),
      /replica_sets/,
    ],
    ['a replica set missing', (a) => delete a.replica_sets[ids[2]!], /replica_sets/],
    ['a replica set of two nodes', (a) => (a.replica_sets[ids[1]!] = HOLDERS.slice(0, 2)), /3 distinct/],
    ['a replica set of four nodes', (a) => (a.replica_sets[ids[1]!] = [...HOLDERS, 'd']), /3 distinct/],
    [
      'a node twice in a replica set',
      (a) => (a.replica_sets[ids[0]!] = [HOLDERS[0]!, HOLDERS[0]!, HOLDERS[1]!]),
      /3 distinct/,
    ],
    [
      'an under-replicated node outside its shard',
      (a) => (a.under_replicated[ids[0]!] = ['outsider']),
      /outside/,
    ],
    [
      'an under-replicated unknown shard',
      (a) => (a.under_replicated['cd'.repeat(32)] = [HOLDERS[0]!]),
      /unknown shard/,
    ],
    ['another fee', (a) => (a.atr_cost = '1.000000000000000000'), /fee formula/],
  ]
  for (const [name, lie, reason] of lies) {
    it(`refuses ${name}`, () => {
      const answer = honest()
      lie(answer)
      expect(checkStoreAnswer(answer, expected)).toMatch(reason)
    })
  }

  it('accepts under_replicated naming holders of the shard, and compares hash_commit only when known', () => {
    const answer = honest()
    answer.under_replicated[ids[3]!] = [HOLDERS[2]!]
    expect(checkStoreAnswer(answer, expected)).toBeUndefined()
    answer.hash_commit = 'ab'.repeat(32)
    expect(checkStoreAnswer(answer, { ...expected, hashCommit: undefined })).toBeUndefined()
  })
})
