import { QfsError, type StorageErrorCode, storageErrorCode } from '../core/errors.js'
import type { StorageMetadata } from '../core/metadata.js'
import type { StorageProof } from '../core/proof.js'
import type { VersionFacts, VersionKind, VersionRecord } from '../core/record.js'

/**
 * The QFS StorageEngine interface shapes (storageengine-interface.md): every response has `ok`;
 * failures carry a code of the finite `SE_ERR_*` set, a safe detail, and our finer `code`.
 */
export interface EngineFailure {
  ok: false
  error_code: StorageErrorCode
  error_detail: string
  code: string
  storage_event_id: string | null
}

export interface StoreSuccess extends VersionFacts {
  ok: true
  shard_ids: string[]
  replica_sets: Record<string, string[]>
  atr_cost: string
  /** Replicas that did not confirm, by shard: the repair queue's input. */
  under_replicated: Record<string, string[]>
  storage_event_id: string
}

export interface ShardReadInfo {
  shard_id: string
  shard_index: number
  merkle_root: string
  leaf_count: number
  served_by: string | null
}

/**
 * What a read tells about the version before its content: the engine's opened read and the wire's
 * read header both begin with it.
 */
export interface ReadHead extends VersionFacts {
  /** As every success answer says: `if (!opened.ok)` tells it from a failure in plain JavaScript too. */
  ok: true
  metadata: StorageMetadata
  storage_event_id: string
  /** The majority-agreed record: remote clients verify shard roots and hash_commit against it. */
  record: VersionRecord
}

export interface ReadSuccess {
  ok: true
  object_id: string
  version: number
  kind: VersionKind
  content_bytes: Uint8Array
  hash_commit: string
  metadata: StorageMetadata
  proofs: ShardReadInfo[]
  storage_event_id: string
}

export interface ProofSuccess {
  ok: true
  object_id: string
  version: number
  shard_id: string
  merkle_root: string
  proof: StorageProof
  assigned_nodes: string[]
  answered_by: string
  storage_event_id: string
}

export interface ObjectSummary {
  object_id: string
  version: number
  kind: VersionKind
  hash_commit: string
  content_size: number
  created_at_tick: number
  metadata: StorageMetadata
}

export interface ListSuccess {
  ok: true
  objects: ObjectSummary[]
  /** Pass as `after` for the next page; null when this page is the last. */
  next_cursor: { object_id: string; version: number } | null
  storage_event_id: string
}

export type StoreResponse = StoreSuccess | EngineFailure
export type ReadResponse = ReadSuccess | EngineFailure
export type ProofResponse = ProofSuccess | EngineFailure
export type ListResponse = ListSuccess | EngineFailure

/**
 * Longest `error_detail` we answer or log, in UTF-16 code units: half the 1024 characters the wire
 * (ERROR frames, Failure answers) and the log (`error_detail` of a StorageEvent) accept, so a detail
 * always fits both with room to spare.
 */
export const MAX_DETAIL_CHARS = 512

export const INTERNAL_DETAIL = 'internal error'

// Fixed phrases for the SE_ERR_INTERNAL fine codes a caller can act on (docs/protocol.md section 5);
// their messages may wrap library or OS text, so the messages themselves are never shown.
const INTERNAL_PHRASES: Readonly<Record<string, string>> = {
  NODE_UNAVAILABLE: 'a node could not be reached or did not answer',
  TIMEOUT: 'the peer was silent for longer than its deadline (request deadline or idle timeout)',
  STREAM_ENDED: 'the stream ended before the exchange was complete',
  WRITE_TOO_SLOW: 'the content did not arrive within the write deadline (a minimum average rate)',
  READ_TOO_SLOW: 'the client did not take the content within the read deadline (a minimum average rate)',
  WRITE_OUTCOME_UNKNOWN:
    'the node received the whole content, then the exchange ended before its answer (the node stopped answering, or the caller gave up): the write may have taken effect; sending the identical write again is safe (it completes or confirms it)',
}

/**
 * The detail shown for a failure (PROTOCOL.md: internal errors never leak): the message of one of
 * our own errors with a client-facing `SE_ERR_*` class, at most MAX_DETAIL_CHARS long; a fixed
 * phrase for anything internal (an `SE_ERR_INTERNAL` code, or not a QfsError at all).
 */
export function safeDetail(err: unknown): string {
  if (!(err instanceof QfsError)) return INTERNAL_DETAIL
  if (storageErrorCode(err) === 'SE_ERR_INTERNAL') return INTERNAL_PHRASES[err.code] ?? INTERNAL_DETAIL
  return boundedDetail(err.message)
}

// With the u flag a class of surrogates matches only unpaired ones (as in core/canonical.ts).
const LONE_SURROGATE = /[\uD800-\uDFFF]/gu

/** `text` cut to MAX_DETAIL_CHARS without splitting a surrogate pair; lone surrogates become U+FFFD (the log refuses them). */
export function boundedDetail(text: string): string {
  let end = Math.min(text.length, MAX_DETAIL_CHARS)
  const last = text.charCodeAt(end - 1)
  if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--
  return text.slice(0, end).replace(LONE_SURROGATE, '\ufffd')
}

export function fineCode(err: unknown): string {
  return err instanceof QfsError ? err.code : 'INTERNAL'
}

export function failure(err: unknown, storageEventId: string | null): EngineFailure {
  return {
    ok: false,
    error_code: storageErrorCode(err),
    error_detail: safeDetail(err),
    code: fineCode(err),
    storage_event_id: storageEventId,
  }
}

/** A buffered read's answer from an opened streaming read and the bytes it yielded. */
export function readSuccess(
  opened: Pick<
    ReadSuccess,
    'object_id' | 'version' | 'kind' | 'hash_commit' | 'metadata' | 'proofs' | 'storage_event_id'
  >,
  parts: Uint8Array[],
): ReadSuccess {
  return {
    ok: true,
    object_id: opened.object_id,
    version: opened.version,
    kind: opened.kind,
    content_bytes: Buffer.concat(parts),
    hash_commit: opened.hash_commit,
    metadata: opened.metadata,
    proofs: opened.proofs,
    storage_event_id: opened.storage_event_id,
  }
}
