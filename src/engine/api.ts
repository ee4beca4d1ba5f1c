import type { CallOptions, OpenedRead, PutOptions } from './engine.js'
import type { EngineFailure, ListResponse, ProofResponse, ReadResponse, StoreResponse } from './responses.js'
import type { ContentSource } from './write.js'

/**
 * The StorageEngine of spec §5 as callers see it: the in-process coordinator (`StorageEngine`) and
 * the libp2p client SDK (`QfsClient`) both implement it, so the AtlasAPIGateway and the shared
 * engine tests take either.
 */
export interface StorageEngineApi {
  putContent(
    objectId: string,
    version: number,
    content: Uint8Array | ContentSource,
    metadata: unknown,
    options?: PutOptions,
  ): Promise<StoreResponse>
  deleteContent(
    objectId: string,
    version: number,
    metadata: unknown,
    options?: PutOptions,
  ): Promise<StoreResponse>
  getContent(objectId: string, version?: number, options?: CallOptions): Promise<ReadResponse>
  /** Streaming read: verified bytes flow as they arrive; the last step checks hash_commit. */
  readContent(objectId: string, version?: number, options?: CallOptions): Promise<OpenedRead | EngineFailure>
  getStorageProof(
    objectId: string,
    version: number,
    shardId: string,
    options?: CallOptions & { leafIndex?: number },
  ): Promise<ProofResponse>
  listObjects(filters?: unknown, options?: CallOptions): Promise<ListResponse>
}
