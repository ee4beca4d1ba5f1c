import { QfsError, type StorageErrorCode, storageErrorCode } from '../core/errors.js'
import type { StorageMetadata } from '../core/metadata.js'
import type { StorageProof } from '../core/proof.js'
import type { VersionKind } from '../core/record.js'

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

export interface StoreSuccess {
  ok: true
  object_id: string
  version: number
  kind: VersionKind
  hash_commit: string
  content_size: number
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

/** Internal errors never leak: only our own (QfsError) messages are shown. */
export function safeDetail(err: unknown): string {
  return err instanceof QfsError ? err.message : 'internal error'
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
