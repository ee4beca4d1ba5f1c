import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { InvalidInputError } from '../core/errors.js'
import { DEFAULT_PARAMS, type ProtocolParams } from '../core/params.js'
import type { VersionRecord } from '../core/record.js'
import type { CallOptions, PutOptions, StorageEngineApi } from '../engine/api.js'
import { IntegrityMismatchError } from '../engine/errors.js'
import {
  type EngineFailure,
  type ListResponse,
  type ProofResponse,
  type ReadResponse,
  readSuccess,
  type StoreResponse,
} from '../engine/responses.js'
import type { ContentSource } from '../engine/write.js'
import { StorageClient } from '../net/client.js'
import type { Dialer } from '../net/dial.js'
import { ContentTooLargeError } from '../net/errors.js'
import { createQfsLibp2p } from '../net/libp2p-node.js'
import { parseNodeAddress } from './address.js'
import { type CallLimits, resolveCallLimits } from './call-slots.js'
import { checkProofAnswer } from './checks.js'
import { ClientCalls, type ClientParts } from './client-calls.js'
import {
  type GetContentOptions,
  MAX_BUFFERED_CONTENT_BYTES,
  type QfsClientInit,
  type QfsClientTimeouts,
  type ReadCallOptions,
  resolveTimeouts,
} from './client-options.js'
import { fetchStorageProofCall, listObjectsCall } from './client-queries.js'
import { type QfsOpenedRead, readContentCall, VerifiedRecords } from './client-read.js'
import { deleteContentCall, putContentCall } from './client-write.js'
import { toFailure } from './failures.js'

export {
  DEFAULT_QUEUE_MS,
  type GetContentOptions,
  MAX_BUFFERED_CONTENT_BYTES,
  type QfsClientInit,
  type QfsClientTimeouts,
  type ReadCallOptions,
} from './client-options.js'
export type { QfsOpenedRead } from './client-read.js'

/**
 * The StorageEngine of spec §5 as a client of one node over libp2p: the same methods and QFS
 * response shapes as the in-process `StorageEngine`, so the AtlasAPIGateway and the shared engine
 * tests take either. Nothing the node answers is trusted:
 * - reads check every byte against the record in the read header (each shard's leaf hashes must
 *   rebuild its Merkle root, the whole must hash to `hash_commit` with the record's metadata seed),
 *   and the record must be the one asked for;
 * - writes compute `hash_commit`, shard ids and the ATR fee of what was sent and compare the answer;
 * - proofs are verified with the core against the record's root, shard id and leaf count.
 * A failed check answers `SE_ERR_INTEGRITY_MISMATCH` (code `INTEGRITY_MISMATCH`).
 *
 * Methods never throw for a remote's failure. A node that cannot be reached, or stops answering
 * properly, answers `{ ok: false, error_code: 'SE_ERR_INTERNAL', code: 'NODE_UNAVAILABLE' }` with
 * `storage_event_id: null` (no node logged the call). Content streams both ways with bounded memory.
 */
export class QfsClient implements StorageEngineApi {
  /** The coordinating node's id (its libp2p peer id). */
  readonly nodeId: string
  readonly node: Multiaddr
  private readonly owned: Libp2p | undefined
  private readonly records = new VerifiedRecords()
  private readonly calls: ClientCalls
  /** What the operations share (ClientParts). */
  private readonly parts: ClientParts

  private constructor(init: {
    node: Multiaddr
    nodeId: string
    dialer: Dialer
    owned?: Libp2p
    timeouts: QfsClientTimeouts
    params: ProtocolParams
    limits: CallLimits
  }) {
    this.node = init.node
    this.nodeId = init.nodeId
    this.owned = init.owned
    this.calls = new ClientCalls(init.limits, init.timeouts.queueMs)
    const storage = new StorageClient(
      { libp2p: init.dialer },
      {
        limits: { requestTimeoutMs: init.timeouts.requestMs, idleTimeoutMs: init.timeouts.idleMs },
        params: init.params,
      },
    )
    this.parts = { node: this.node, storage, calls: this.calls, params: init.params }
  }

  /** Throws INVALID_INPUT for a missing init or a node address that is not a multiaddr naming its peer. */
  static async create(init: QfsClientInit): Promise<QfsClient> {
    if (init === null || typeof init !== 'object') {
      throw new InvalidInputError('QfsClient.create takes {node: "<multiaddr>/p2p/<peer id>", ...}')
    }
    const address = parseNodeAddress(init.node)
    const timeouts = resolveTimeouts(init.timeouts)
    const limits = resolveCallLimits(init.maxConcurrent)
    let owned: Libp2p | undefined
    if (init.libp2p === undefined) {
      // A client is reachable by nobody: an ephemeral identity and no listen address.
      owned = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
    }
    try {
      return new QfsClient({
        node: address.multiaddr,
        nodeId: address.peerId,
        dialer: init.libp2p ?? owned!,
        owned,
        timeouts,
        params: init.params ?? DEFAULT_PARAMS,
        limits,
      })
    } catch (err) {
      // A node this call started must not outlive its failure (it would keep the process running).
      await owned?.stop()
      throw err
    }
  }

  /**
   * Ends every call under way and stops the libp2p node the client started (one handed in is left
   * running). Calls under way or waiting for a slot answer CLIENT_CLOSED (a write that had sent its
   * last byte answers WRITE_OUTCOME_UNKNOWN: it may still take effect), reads the node is still
   * sending throw ClientClosedError, and every call after this answers CLIENT_CLOSED without dialling.
   */
  async close(): Promise<void> {
    if (this.calls.closed) return
    this.calls.close()
    await this.owned?.stop()
  }

  /** Calls of each kind running on the node through this client, and calls waiting for a slot. */
  get load(): Record<keyof CallLimits, { running: number; waiting: number }> {
    return this.calls.load
  }

  async putContent(
    objectId: string,
    version: number,
    content: Uint8Array | ContentSource,
    metadata: unknown,
    options: PutOptions = {},
  ): Promise<StoreResponse> {
    return putContentCall(this.parts, objectId, version, content, metadata, options)
  }

  async deleteContent(
    objectId: string,
    version: number,
    metadata: unknown,
    options: PutOptions = {},
  ): Promise<StoreResponse> {
    return deleteContentCall(this.parts, objectId, version, metadata, options)
  }

  async getContent(
    objectId: string,
    version?: number,
    options: GetContentOptions = {},
  ): Promise<ReadResponse> {
    const maxBytes = options.maxBytes ?? MAX_BUFFERED_CONTENT_BYTES
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      return toFailure(new InvalidInputError('maxBytes must be a non-negative integer'), null)
    }
    const opened = await this.readContent(objectId, version, options)
    if (!('content' in opened)) return opened
    if (opened.content_size > maxBytes) {
      opened.cancel()
      return toFailure(
        new ContentTooLargeError(
          `version ${opened.version} is ${opened.content_size} bytes, over this call's maxBytes ${maxBytes}: read it with readContent`,
        ),
        opened.storage_event_id,
      )
    }
    const pieces: Uint8Array[] = []
    try {
      for await (const piece of opened.content) pieces.push(piece)
    } catch (err) {
      return this.calls.failureOf(err, opened.storage_event_id)
    }
    return readSuccess(opened, pieces)
  }

  /**
   * A streaming read. `content` yields bytes as they arrive and throws (a QfsError) at the first
   * check that fails; bytes count as verified only once it has ended without throwing: a shard's
   * root is checked when its last block arrives and `hash_commit` after the last byte, so a consumer
   * that must never expose unverified bytes writes them aside first (the CLI writes FILE.partial).
   * Consume `content` or call `cancel()`.
   */
  async readContent(
    objectId: string,
    version?: number,
    options: ReadCallOptions = {},
  ): Promise<QfsOpenedRead | EngineFailure> {
    return readContentCall(this.parts, this.records, objectId, version, options)
  }

  /**
   * The record of a version: the one a verified read of it carried (cached, since a decided record
   * never changes), else the record a read header carries, unchecked against the content (the read's
   * data is not consumed, so its roots are the node's word).
   */
  async getRecord(
    objectId: string,
    version?: number,
    options: CallOptions = {},
  ): Promise<VersionRecord | EngineFailure> {
    const closed = this.calls.refusedAtOnce(options)
    if (closed !== undefined) return closed
    if (version !== undefined) {
      const cached = this.records.get(objectId, version)
      if (cached !== undefined) return cached
    }
    const opened = await this.readContent(objectId, version, options)
    if (!('content' in opened)) return opened
    opened.cancel()
    return opened.record
  }

  /** The proof answer as the node sent it, unverified (auditors verify it themselves; see getStorageProof). */
  async fetchStorageProof(
    objectId: string,
    version: number,
    shardId: string,
    options: CallOptions & { leafIndex?: number } = {},
  ): Promise<ProofResponse> {
    return fetchStorageProofCall(this.parts, objectId, version, shardId, options)
  }

  /**
   * A storage proof, returned ok only once it verifies against the version's record (see getRecord:
   * the record of a verified read when this client made one).
   */
  async getStorageProof(
    objectId: string,
    version: number,
    shardId: string,
    options: CallOptions & { leafIndex?: number } = {},
  ): Promise<ProofResponse> {
    const answer = await this.fetchStorageProof(objectId, version, shardId, options)
    if (!answer.ok) return answer
    const record = await this.getRecord(objectId, version, { signal: options.signal })
    if ('error_code' in record) return record
    const verdict = checkProofAnswer(answer, record, { shardId, leafIndex: options.leafIndex })
    if (verdict.ok) return answer
    return toFailure(
      new IntegrityMismatchError(`the proof does not verify against the record: ${verdict.reason}`),
      answer.storage_event_id,
    )
  }

  async listObjects(filters: unknown = {}, options: CallOptions = {}): Promise<ListResponse> {
    return listObjectsCall(this.parts, filters, options)
  }
}
