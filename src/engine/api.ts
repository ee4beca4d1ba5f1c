import type {
  EngineFailure,
  ListResponse,
  ProofResponse,
  ReadHead,
  ReadResponse,
  ShardReadInfo,
  StoreResponse,
} from './responses.js'
import type { ContentSource, WriteProgress } from './write.js'

export interface CallOptions {
  signal?: AbortSignal
  /** The epoch whose eligible list places the write; default the current one. */
  epoch?: number
  /** DeterministicTime tick of the call; default the metadata's created_at_tick, or the node's clock. */
  timestampTick?: number
}

export interface ReadContentOptions extends CallOptions {
  /**
   * Check the whole content against `hash_commit` too (default true). Every block is checked against
   * the record's roots either way, which is what failing over between replicas needs. False only
   * where the reader the bytes go to checks `hash_commit` itself, as a public read's client must
   * (docs/protocol.md 4.3): the same second pass over every byte twice would buy nothing.
   */
  checkCommit?: boolean
}

export interface PutOptions extends CallOptions {
  onProgress?: (p: WriteProgress) => void
}

export interface OpenedRead extends ReadHead {
  /**
   * Verified content: throws INTEGRITY_MISMATCH at a block that does not verify, and at the end if
   * the whole does not match hash_commit (unless told not to check it: ReadContentOptions).
   */
  content: AsyncIterable<Uint8Array>
  proofs: ShardReadInfo[]
}

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
