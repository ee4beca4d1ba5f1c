import { describe, expect, it } from 'vitest'
import type { StorageMetadata } from '../../src/core/metadata.js'
import { type IndexState, liveNetwork, nodeState, type ShardState } from '../../src/replay/index.js'
import { hexOf } from '../log/fixtures.js'

/**
 * The catalogue rule on hand-made node states: a version exists when a majority of its homes hold
 * the same record, and only shards of that record's commitment count as its replicas. Two records
 * at one version (a conflicting write) must not pool their votes or their shards.
 */

const OID = hexOf(1)
const HOMES = ['node-1', 'node-2', 'node-3']
const META: StorageMetadata = {
  author_node_id: 'author-1',
  created_at_tick: 1,
  tags: [],
  openagi_score: null,
  atr_fee_events: [],
  aegis_telemetry_stub: null,
}

/** A home's index entry for version 1 of OID, of the record `r` (its digest and commitment). */
function homeEntry(r: number): IndexState {
  return {
    object_id: OID,
    version: 1,
    kind: 'STORE',
    hash_commit: hexOf(100 + r),
    record_digest: hexOf(200 + r),
    content_size: 10 * r,
    home: true,
    catalogue_homes: HOMES,
    metadata: META,
  }
}

function shardOf(r: number): ShardState {
  return {
    shard_id: hexOf(300 + r),
    object_id: OID,
    version: 1,
    shard_index: 0,
    length: 10,
    leaf_count: 1,
    merkle_root: hexOf(400 + r),
    hash_commit: hexOf(100 + r),
  }
}

describe('network catalogue votes', () => {
  it('two records at one version: the one a majority of homes holds exists, with only its homes', () => {
    // node-1 (sorted first) holds record 2; node-2 and node-3 hold record 1.
    const state = liveNetwork([
      nodeState('node-1', [homeEntry(2)], []),
      nodeState('node-2', [homeEntry(1)], []),
      nodeState('node-3', [homeEntry(1)], []),
    ])
    expect(state.catalogue).toHaveLength(1)
    expect(state.catalogue[0]).toMatchObject({
      hash_commit: hexOf(101),
      content_size: 10,
      homes: ['node-2', 'node-3'],
    })
  })

  it('a shard of the same version under another commitment is not a replica of the record', () => {
    const state = liveNetwork([
      nodeState('node-1', [homeEntry(1)], [shardOf(1)]),
      nodeState('node-2', [homeEntry(1)], []),
      nodeState('node-4', [], [shardOf(2)]),
    ])
    expect(state.catalogue).toHaveLength(1)
    expect(state.catalogue[0]!.shards).toEqual([
      {
        shard_id: hexOf(301),
        shard_index: 0,
        length: 10,
        merkle_root: hexOf(401),
        holders: ['node-1'],
      },
    ])
  })

  it('a node the record lists as a home, but that holds it only as a holder, does not vote', () => {
    const holderOnly = { ...homeEntry(1), home: false }
    const state = liveNetwork([
      nodeState('node-1', [homeEntry(1)], []),
      nodeState('node-2', [holderOnly], []),
    ])
    expect(state.catalogue).toEqual([])
  })
})

describe('node state metrics', () => {
  it('count objects, not versions', () => {
    const v2 = { ...homeEntry(1), version: 2 }
    expect(nodeState('node-1', [homeEntry(1), v2], [shardOf(1)]).metrics).toEqual({
      objects: 1,
      versions: 2,
      shards: 1,
      bytes_stored: 10,
    })
  })
})
