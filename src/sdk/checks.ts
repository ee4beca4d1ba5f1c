import { atrCost } from '../core/atr.js'
import { canonicalJson } from '../core/canonical.js'
import { shardId as deriveShardId } from '../core/ids.js'
import { normalizeTag } from '../core/metadata.js'
import type { ProtocolParams } from '../core/params.js'
import { type ProofVerdict, verifyStorageProof } from '../core/proof.js'
import type { VersionKind, VersionRecord } from '../core/record.js'
import type { ListSuccess, ProofSuccess, ShardReadInfo, StoreSuccess } from '../engine/responses.js'
import { MAX_DATA_BYTES } from '../net/frames.js'

/**
 * What a client can check of a coordinator's answers with the core alone. Each check returns the
 * reason an answer is wrong, or undefined. The coordinator is not trusted: these catch a node that
 * reports a commitment other than the one the client's bytes imply, or a record that is not the one
 * asked for.
 */

export interface StoreExpectation {
  objectId: string
  version: number
  kind: VersionKind
  contentSize: number
  /** hash_commit of the bytes the client sent, when it could compute it (metadata in normal form). */
  hashCommit?: string
  params: ProtocolParams
}

export function checkStoreAnswer(answer: StoreSuccess, expected: StoreExpectation): string | undefined {
  const { params } = expected
  if (answer.object_id !== expected.objectId) return `answer is for object ${answer.object_id}`
  if (answer.version !== expected.version) return `answer is for version ${answer.version}`
  if (answer.kind !== expected.kind) return `answer is a ${answer.kind}, the request a ${expected.kind}`
  if (answer.content_size !== expected.contentSize) {
    return `answer counts ${answer.content_size} bytes, the client sent ${expected.contentSize}`
  }
  if (expected.hashCommit !== undefined && answer.hash_commit !== expected.hashCommit) {
    return `answer commits to ${answer.hash_commit}, the bytes sent hash to ${expected.hashCommit}`
  }
  const ids = Array.from({ length: params.numShardsPerObject }, (_, i) =>
    deriveShardId(expected.objectId, expected.version, i),
  )
  if (answer.shard_ids.length !== ids.length || answer.shard_ids.some((id, i) => id !== ids[i])) {
    return 'shard_ids do not follow the shard_id formula'
  }
  const keys = Object.keys(answer.replica_sets)
  if (keys.length !== ids.length || !ids.every((id) => Object.hasOwn(answer.replica_sets, id))) {
    return 'replica_sets do not name exactly the shards'
  }
  for (const id of ids) {
    const set = answer.replica_sets[id]!
    if (set.length !== params.replicationFactor || new Set(set).size !== set.length) {
      return `replica set of shard ${id} is not ${params.replicationFactor} distinct nodes`
    }
    const missing = answer.under_replicated[id] ?? []
    if (missing.some((n) => !set.includes(n))) return `under_replicated names a node outside shard ${id}`
  }
  if (Object.keys(answer.under_replicated).some((k) => !ids.includes(k))) {
    return 'under_replicated names an unknown shard'
  }
  const fee = atrCost(expected.contentSize, params.numShardsPerObject, params.replicationFactor).toString()
  if (answer.atr_cost !== fee) return `atr_cost ${answer.atr_cost} is not the fee formula's ${fee}`
  return undefined
}

export interface ReadHeaderView {
  object_id: string
  version: number
  kind: VersionKind
  metadata: unknown
  record: VersionRecord
}

/** The header names what was asked for, and its metadata is the record's (hash_commit binds the latter). */
export function checkReadHeader(
  header: ReadHeaderView,
  objectId: string,
  version?: number,
): string | undefined {
  if (header.object_id !== objectId || header.record.object_id !== objectId) {
    return `the node answered object ${header.record.object_id}, not ${objectId}`
  }
  if (version !== undefined && (header.version !== version || header.record.version !== version)) {
    return `the node answered version ${header.record.version}, not ${version}`
  }
  if (version === undefined && header.record.kind === 'DELETE_MARKER') {
    return 'the latest version is a delete marker: a read of the latest must answer not found'
  }
  if (canonicalJson(header.metadata) !== canonicalJson(header.record.metadata)) {
    return "the header's metadata is not the record's"
  }
  // No node of this protocol version can serve a block over one DATA frame (docs/protocol.md, "block
  // size"): such a record is a lie told before any byte, so it is refused before any byte.
  if (header.record.block_size_bytes > MAX_DATA_BYTES) {
    return `the record's blocks of ${header.record.block_size_bytes} bytes exceed the protocol's ${MAX_DATA_BYTES}`
  }
  return undefined
}

/** The trailer lists every shard of the record, with the record's roots, served by one of its holders. */
export function checkReadTrailer(
  proofs: readonly ShardReadInfo[],
  record: VersionRecord,
): string | undefined {
  if (proofs.length !== record.shards.length) return `trailer lists ${proofs.length} shards`
  for (const [i, p] of proofs.entries()) {
    const s = record.shards[i]!
    if (
      p.shard_index !== s.shard_index ||
      p.shard_id !== s.shard_id ||
      p.merkle_root !== s.merkle_root ||
      p.leaf_count !== s.leaf_count
    ) {
      return `trailer entry ${i} does not describe shard ${s.shard_index} of the record`
    }
    if (p.served_by !== null && !s.replicas.includes(p.served_by)) {
      return `trailer says ${p.served_by} served shard ${i}, which is not one of its holders`
    }
    if (p.served_by === null && s.length > 0) return `trailer names no holder for shard ${i}`
  }
  return undefined
}

/**
 * A proof answer checked against the record the client holds: the root, the leaf count and the
 * holders come from the record, never from the answer; the inclusion proof is RFC 9162 with the core.
 */
export function checkProofAnswer(
  answer: ProofSuccess,
  record: VersionRecord,
  expected: { shardId: string; leafIndex?: number },
): ProofVerdict {
  const shard = record.shards.find((s) => s.shard_id === expected.shardId)
  if (shard === undefined) return { ok: false, reason: 'the shard is not part of the record' }
  if (answer.object_id !== record.object_id || answer.version !== record.version) {
    return { ok: false, reason: 'the answer is for another version' }
  }
  if (answer.shard_id !== shard.shard_id) return { ok: false, reason: 'the answer is for another shard' }
  if (answer.merkle_root !== shard.merkle_root) {
    return { ok: false, reason: "the answer's merkle_root is not the record's" }
  }
  if (canonicalJson(answer.assigned_nodes) !== canonicalJson(shard.replicas)) {
    return { ok: false, reason: "assigned_nodes are not the record's holders" }
  }
  if (!shard.replicas.includes(answer.answered_by)) {
    return { ok: false, reason: `${answer.answered_by} is not a holder of the shard` }
  }
  return verifyStorageProof(answer.proof, {
    merkleRoot: shard.merkle_root,
    shardId: shard.shard_id,
    leafCount: shard.leaf_count,
    objectId: record.object_id,
    version: record.version,
    leafIndex: expected.leafIndex,
  })
}

export interface ListExpectation {
  limit: number
  prefix?: string
  after?: { object_id: string; version: number }
  /** As the caller gave it: compared in its normal form, as the node does (docs/protocol.md 4.5). */
  tag?: string
  author?: string
  tick_from?: number
  tick_to?: number
}

/**
 * A page is sorted by (object_id, version), within its filters and its limit; its cursor lies within
 * the prefix, past the request's `after` and not behind the page (docs/protocol.md 4.5: paging always
 * advances, and a cursor outside the prefix would lead a client that follows it nowhere, for good).
 */
export function checkListing(answer: ListSuccess, f: ListExpectation): string | undefined {
  if (answer.objects.length > f.limit)
    return `page of ${answer.objects.length} objects exceeds limit ${f.limit}`
  const tag = f.tag === undefined ? undefined : normalizeTag(f.tag)
  let prev = f.after
  for (const o of answer.objects) {
    // Ids are 64 lower-case hex characters: string order is byte order.
    if (
      prev !== undefined &&
      (o.object_id < prev.object_id || (o.object_id === prev.object_id && o.version <= prev.version))
    ) {
      return 'page is not sorted by (object_id, version) after its cursor'
    }
    prev = o
    if (f.prefix !== undefined && !o.object_id.startsWith(f.prefix))
      return `${o.object_id} is outside the prefix`
    if (f.author !== undefined && o.metadata.author_node_id !== f.author)
      return `${o.object_id} has another author`
    if (tag !== undefined && !o.metadata.tags.includes(tag)) return `${o.object_id} lacks the tag`
    if (o.created_at_tick !== o.metadata.created_at_tick) return `${o.object_id} has two creation ticks`
    if (f.tick_from !== undefined && o.created_at_tick < f.tick_from)
      return `${o.object_id} is before tick_from`
    if (f.tick_to !== undefined && o.created_at_tick > f.tick_to) return `${o.object_id} is after tick_to`
  }
  const cursor = answer.next_cursor
  if (cursor === null) return undefined
  const last = answer.objects[answer.objects.length - 1]
  if (last !== undefined && keyBefore(cursor, last)) return 'next_cursor is behind the page'
  if (f.after !== undefined && !keyBefore(f.after, cursor)) return 'next_cursor does not advance past after'
  if (f.prefix !== undefined && !cursor.object_id.startsWith(f.prefix))
    return 'next_cursor is outside the prefix'
  return undefined
}

function keyBefore(
  a: { object_id: string; version: number },
  b: { object_id: string; version: number },
): boolean {
  return a.object_id < b.object_id || (a.object_id === b.object_id && a.version < b.version)
}
