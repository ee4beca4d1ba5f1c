import { setMaxListeners } from 'node:events'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { toHex } from '../core/bytes.js'
import { HashCommitBuilder } from '../core/commit.js'
import { InvalidInputError } from '../core/errors.js'
import { DEFAULT_PARAMS, type ProtocolParams } from '../core/params.js'
import type { VersionKind, VersionRecord } from '../core/record.js'
import type { StorageEngineApi } from '../engine/api.js'
import type { CallOptions, OpenedRead, PutOptions } from '../engine/engine.js'
import { IntegrityMismatchError, NodeUnavailableError } from '../engine/errors.js'
import { DEFAULT_PAGE, validateFilters } from '../engine/list.js'
import {
  type EngineFailure,
  failure,
  type ListResponse,
  type ProofResponse,
  type ReadResponse,
  readSuccess,
  type ShardReadInfo,
  type StoreResponse,
} from '../engine/responses.js'
import { type ContentSource, contentSource } from '../engine/write.js'
import { StorageClient, type OpenedRead as WireRead } from '../net/client.js'
import type { Dialer } from '../net/dial.js'
import { ContentTooLargeError, NodeBusyError, RemoteError } from '../net/errors.js'
import { createQfsLibp2p } from '../net/libp2p-node.js'
import { DEFAULT_LIMITS } from '../net/protocols.js'
import { parseNodeAddress } from './address.js'
import { guardedProgress, seedOf, timeoutOption } from './call-input.js'
import { type CallLimits, CallSlots, linkedSignal, resolveCallLimits } from './call-slots.js'
import { checkListing, checkProofAnswer, checkReadHeader, checkStoreAnswer } from './checks.js'
import { ClientClosedError } from './errors.js'
import { toFailure } from './failures.js'
import { type TransferProgress, verifiedContent } from './verified-read.js'

export interface QfsClientTimeouts {
  /** Opening a stream: dialling and protocol negotiation (default 10 s). */
  requestMs: number
  /**
   * Longest wait for each frame of an answer, whole (a header, a proof, a summary, a block of a
   * read), and for the node to take the bytes of a write (default 30 s).
   */
  idleMs: number
  /**
   * Longest wait for one of the client's own call slots when `maxConcurrent` calls of the kind are
   * already running (default 90 s); past it the call answers NODE_BUSY.
   */
  queueMs: number
}

export interface QfsClientInit {
  /** The coordinating node: a multiaddr that ends in `/p2p/<peer id>`. */
  node: string | Multiaddr
  /** A libp2p node to dial from; without one the client starts its own (no listen address) and owns it. */
  libp2p?: Dialer
  timeouts?: Partial<QfsClientTimeouts>
  /** The governed parameters records are checked against (default DEFAULT_PARAMS). */
  params?: ProtocolParams
  /**
   * Calls of each kind run on the node at once (default DEFAULT_CALL_LIMITS, the node's own default
   * caps); the rest wait in order, up to `timeouts.queueMs`.
   */
  maxConcurrent?: Partial<CallLimits>
}

export interface ReadCallOptions extends CallOptions {
  /** Bytes received and fed to the checks so far (verified only once the read ends), for progress bars. */
  onProgress?: (p: TransferProgress) => void
}

export interface GetContentOptions extends ReadCallOptions {
  /**
   * Largest content `getContent` holds in memory (default MAX_BUFFERED_CONTENT_BYTES); a version
   * announcing more is refused before any byte is read (`CONTENT_TOO_LARGE`). Stream larger ones
   * with `readContent`.
   */
  maxBytes?: number
}

/**
 * `getContent`'s default bound. The size a read announces is the serving node's word until the last
 * byte verifies, so without a bound a node could make the client buffer until it runs out of memory.
 */
export const MAX_BUFFERED_CONTENT_BYTES = 1024 * 1024 * 1024

/** The engine's opened read, plus `cancel()` for a read whose content will not be consumed. */
export interface QfsOpenedRead extends OpenedRead {
  cancel(): void
}

const RECORD_CACHE_SIZE = 256

/**
 * Default `timeouts.queueMs`: longer than a node's default read grace (60 s, `read_min_deadline_ms`),
 * after which it drops reads whose client stopped taking the bytes, so a call waiting behind reads
 * left unconsumed gets their slots rather than NODE_BUSY a moment before (a load test saw 61 s).
 */
export const DEFAULT_QUEUE_MS = 90_000

/** A call under way: its signal (the caller's, or the client closing) and the end that frees its slot. */
interface Call {
  signal: AbortSignal
  /**
   * A read whose node is done: frees its slot and lets go of the client's closing signal (what is
   * left to consume is already here, and a read never consumed must not stay reachable from the
   * client), keeping the caller's signal; idempotent.
   */
  nodeDone: () => void
  /** Frees the call's slot and lets go of its signals; idempotent. */
  end: () => void
}

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
  private readonly storage: StorageClient
  private readonly owned: Libp2p | undefined
  private readonly params: ProtocolParams
  private readonly records = new Map<string, VersionRecord>()
  private readonly slots: Record<keyof CallLimits, CallSlots>
  /** Aborted by `close()`: calls under way end, and their failures answer CLIENT_CLOSED. */
  private readonly closing = new AbortController()
  private closed = false

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
    this.params = init.params
    // Every call under way listens to the closing signal. Where an AbortSignal keeps Node's default
    // limit of 10 listeners (Node 20; 22 sets none), a burst would print a "possible memory leak"
    // warning although each call lets go when it ends.
    setMaxListeners(Number.POSITIVE_INFINITY, this.closing.signal)
    const slots = (kind: keyof CallLimits) => new CallSlots(kind, init.limits[kind], init.timeouts.queueMs)
    this.slots = { writes: slots('writes'), reads: slots('reads'), queries: slots('queries') }
    this.storage = new StorageClient(
      { libp2p: init.dialer },
      {
        limits: { requestTimeoutMs: init.timeouts.requestMs, idleTimeoutMs: init.timeouts.idleMs },
        params: init.params,
      },
    )
  }

  /** Throws INVALID_INPUT for a missing init or a node address that is not a multiaddr naming its peer. */
  static async create(init: QfsClientInit): Promise<QfsClient> {
    if (init === null || typeof init !== 'object') {
      throw new InvalidInputError('QfsClient.create takes {node: "<multiaddr>/p2p/<peer id>", ...}')
    }
    const address = parseNodeAddress(init.node)
    const timeouts = {
      requestMs: timeoutOption(init.timeouts?.requestMs, 'requestMs', DEFAULT_LIMITS.requestTimeoutMs),
      idleMs: timeoutOption(init.timeouts?.idleMs, 'idleMs', DEFAULT_LIMITS.idleTimeoutMs),
      queueMs: timeoutOption(init.timeouts?.queueMs, 'queueMs', DEFAULT_QUEUE_MS),
    }
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
    if (this.closed) return
    this.closed = true
    const reason = new ClientClosedError()
    for (const slots of Object.values(this.slots)) slots.refuseWaiting(reason)
    this.closing.abort(reason)
    await this.owned?.stop()
  }

  /** Calls of each kind running on the node through this client, and calls waiting for a slot. */
  get load(): Record<keyof CallLimits, { running: number; waiting: number }> {
    return { writes: this.slots.writes.load, reads: this.slots.reads.load, queries: this.slots.queries.load }
  }

  /**
   * The start of a call that dials: the answer of one that cannot start (refusedAtOnce), or a slot of
   * its kind once one is free, with the signal that ends it when the caller aborts or the client closes.
   */
  private async begin(
    kind: keyof CallLimits,
    options: { signal?: unknown } | undefined,
  ): Promise<{ call: Call } | { answer: EngineFailure }> {
    const refused = this.refusedAtOnce(options)
    if (refused !== undefined) return { answer: refused }
    const linked = linkedSignal([options?.signal as AbortSignal | undefined, this.closing.signal])
    let release: () => void
    try {
      release = await this.slots[kind].acquire(linked.signal)
    } catch (err) {
      linked.dispose()
      // The caller's abort reads as for a call under way (docs/sdk.md "Deadlines"); busy and closed stand.
      const why =
        err instanceof NodeBusyError || err instanceof ClientClosedError
          ? err
          : new NodeUnavailableError('the call was abandoned before it started', { cause: err })
      return { answer: this.failureOf(why, null) }
    }
    let ended = false
    const end = () => {
      if (ended) return
      ended = true
      release()
      linked.dispose()
    }
    const nodeDone = () => {
      release()
      linked.detach(this.closing.signal)
    }
    return { call: { signal: linked.signal, nodeDone, end } }
  }

  /**
   * A call's failure as the caller sees it. Once the client is closing, a call it cut off (the
   * transport failing under it) answers CLIENT_CLOSED: no node failed. A node's verdict, and a write
   * whose outcome is unknown, stand.
   */
  private failureOf(err: unknown, storageEventId: string | null): EngineFailure {
    const answer = toFailure(err, storageEventId)
    if (err instanceof RemoteError) return answer
    if (this.closed && (answer.code === 'NODE_UNAVAILABLE' || answer.code === ClientClosedError.code))
      return this.closedAnswer()!
    return answer
  }

  /**
   * The answer of a call that cannot start: the client is closed (CLIENT_CLOSED), or its options'
   * `signal` is no AbortSignal (INVALID_INPUT, before anything is dialled).
   */
  private refusedAtOnce(options: { signal?: unknown } | undefined): EngineFailure | undefined {
    const signal = options?.signal
    if (signal !== undefined && !(signal instanceof AbortSignal))
      return toFailure(new InvalidInputError('options.signal must be an AbortSignal'), null)
    return this.closedAnswer()
  }

  /** The answer of any call once the client is closed. */
  private closedAnswer(): EngineFailure | undefined {
    if (!this.closed) return undefined
    const err = new ClientClosedError()
    return {
      ok: false,
      error_code: 'SE_ERR_INTERNAL',
      error_detail: err.message,
      code: err.code,
      storage_event_id: null,
    }
  }

  async putContent(
    objectId: string,
    version: number,
    content: Uint8Array | ContentSource,
    metadata: unknown,
    options: PutOptions = {},
  ): Promise<StoreResponse> {
    const refused = this.refusedAtOnce(options)
    if (refused !== undefined) return refused
    const source = contentSource(content)
    if (source === undefined)
      return failure(new InvalidInputError('content must be bytes or {size, chunks}'), null)
    // The client commits to what it sends: hash_commit over the bytes as they go out.
    const seed = seedOf(metadata)
    const commit = seed === undefined ? undefined : new HashCommitBuilder()
    // A stream source (a file's ReadStream) that fails before its first byte is asked for, while the
    // node is still being dialled, emits 'error' with nobody listening, which ends the process. Heard
    // here for the length of the call, the failure waits in the stream: its iterator throws it, and
    // the call answers CONTENT_SOURCE_FAILED.
    const emitter = source.chunks as Partial<Pick<NodeJS.EventEmitter, 'on' | 'off'>>
    const ignore = () => {}
    const listening = typeof emitter.on === 'function' && typeof emitter.off === 'function'
    if (listening) emitter.on!('error', ignore)
    const begun = await this.begin('writes', options)
    if ('answer' in begun) {
      if (listening) emitter.off!('error', ignore)
      return begun.answer
    }
    const { call } = begun
    const progress = guardedProgress(options.onProgress)
    async function* sending(): AsyncGenerator<Uint8Array> {
      for await (const chunk of source!.chunks) {
        if (chunk instanceof Uint8Array) commit?.update(chunk)
        yield chunk
      }
    }
    // Bytes given whole go to the wire client whole (it sends small content with its request in one
    // send); they are committed to here, as they go out.
    let wire: Uint8Array | AsyncIterable<Uint8Array> = sending()
    if (content instanceof Uint8Array) {
      commit?.update(content)
      wire = content
    }
    try {
      const answer = await this.storage.put(
        this.node,
        {
          object_id: objectId,
          version,
          metadata,
          content_size: source.size,
          epoch: options.epoch,
          timestamp_tick: options.timestampTick,
        },
        wire,
        {
          signal: call.signal,
          onProgress:
            progress === undefined
              ? undefined
              : (sent) => progress({ phase: 'stage', bytes: sent, total: source.size }),
        },
      )
      if (!answer.ok) return answer
      const kind: VersionKind = version === 1 ? 'STORE' : 'UPDATE'
      const hashCommit =
        commit === undefined ? undefined : toHex(commit.digest(this.params.schemaVersion, seed!))
      return this.checked(answer, { objectId, version, kind, contentSize: source.size, hashCommit })
    } catch (err) {
      return this.failureOf(err, null)
    } finally {
      call.end()
      if (listening) emitter.off!('error', ignore)
    }
  }

  async deleteContent(
    objectId: string,
    version: number,
    metadata: unknown,
    options: PutOptions = {},
  ): Promise<StoreResponse> {
    const begun = await this.begin('writes', options)
    if ('answer' in begun) return begun.answer
    const { call } = begun
    try {
      const answer = await this.storage.delete(
        this.node,
        {
          object_id: objectId,
          version,
          metadata,
          epoch: options.epoch,
          timestamp_tick: options.timestampTick,
        },
        { signal: call.signal },
      )
      if (!answer.ok) return answer
      const seed = seedOf(metadata)
      const hashCommit =
        seed === undefined
          ? undefined
          : toHex(new HashCommitBuilder().digest(this.params.schemaVersion, seed))
      return this.checked(answer, { objectId, version, kind: 'DELETE_MARKER', contentSize: 0, hashCommit })
    } catch (err) {
      return this.failureOf(err, null)
    } finally {
      call.end()
    }
  }

  private checked(
    answer: Extract<StoreResponse, { ok: true }>,
    expected: Omit<Parameters<typeof checkStoreAnswer>[1], 'params'>,
  ): StoreResponse {
    const wrong = checkStoreAnswer(answer, { ...expected, params: this.params })
    if (wrong === undefined) return answer
    return toFailure(
      new IntegrityMismatchError(`the node's store answer is wrong: ${wrong}`),
      answer.storage_event_id,
    )
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
    const parts: Uint8Array[] = []
    try {
      for await (const piece of opened.content) parts.push(piece)
    } catch (err) {
      return this.failureOf(err, opened.storage_event_id)
    }
    return readSuccess(opened, parts)
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
    const begun = await this.begin('reads', options)
    if ('answer' in begun) return begun.answer
    const { call } = begun
    let opened: WireRead | EngineFailure
    try {
      // The SDK verifies on its own (below), so the wire client's copy of the check is not run twice.
      opened = await this.storage.read(
        this.node,
        { object_id: objectId, version },
        { signal: call.signal, verify: false },
      )
    } catch (err) {
      call.end()
      return this.failureOf(err, null)
    }
    if (!opened.ok) {
      call.end()
      return opened
    }
    const wire = opened
    const wrong = checkReadHeader(wire, objectId, version)
    if (wrong !== undefined) {
      wire.cancel()
      call.end()
      return toFailure(new IntegrityMismatchError(wrong), wire.storage_event_id)
    }
    // The slot follows the node's read: once the stream is done the node holds nothing for it, even
    // if the content was never consumed (a read abandoned, or one the node reset).
    void wire.closed.then(call.nodeDone)
    const proofs: ShardReadInfo[] = []
    let cancelled = false
    const cancel = () => {
      cancelled = true
      wire.cancel()
      call.end()
    }
    return {
      ok: true,
      object_id: wire.object_id,
      version: wire.version,
      kind: wire.kind,
      hash_commit: wire.hash_commit,
      content_size: wire.content_size,
      metadata: wire.metadata,
      storage_event_id: wire.storage_event_id,
      record: wire.record,
      content: cancelledOnReturn(
        this.rememberOnceVerified(
          verifiedContent(wire, proofs, guardedProgress(options.onProgress), () => cancelled),
          wire.record,
          call.end,
        ),
        cancel,
      ),
      proofs,
      cancel,
    }
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
    const closed = this.refusedAtOnce(options)
    if (closed !== undefined) return closed
    if (version !== undefined) {
      const cached = this.records.get(`${objectId}/${version}`)
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
    const begun = await this.begin('queries', options)
    if ('answer' in begun) return begun.answer
    const { call } = begun
    try {
      return await this.storage.getProof(
        this.node,
        {
          object_id: objectId,
          version,
          shard_id: shardId,
          leaf_index: options.leafIndex,
          epoch: options.epoch,
        },
        { signal: call.signal },
      )
    } catch (err) {
      return this.failureOf(err, null)
    } finally {
      call.end()
    }
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
    const refused = this.refusedAtOnce(options)
    if (refused !== undefined) return refused
    if (filters !== null && (typeof filters !== 'object' || Array.isArray(filters))) {
      return failure(new InvalidInputError('filters must be an object'), null)
    }
    const begun = await this.begin('queries', options)
    if ('answer' in begun) return begun.answer
    const { call } = begun
    let answer: ListResponse
    try {
      answer = await this.storage.list(
        this.node,
        { filters: (filters ?? {}) as Record<string, unknown>, epoch: options.epoch },
        { signal: call.signal },
      )
    } catch (err) {
      return this.failureOf(err, null)
    } finally {
      call.end()
    }
    if (!answer.ok) return answer
    // The node accepted the filters, so they pass the engine's own check; the page must honour them.
    let wrong: string | undefined
    try {
      const f = validateFilters(filters)
      wrong = checkListing(answer, { ...f, limit: f.limit ?? DEFAULT_PAGE })
    } catch {
      wrong = 'the node accepted filters the engine refuses'
    }
    if (wrong === undefined) return answer
    return toFailure(
      new IntegrityMismatchError(`the node's listing is wrong: ${wrong}`),
      answer.storage_event_id,
    )
  }

  /**
   * The content as it streams, then the record cached once every byte checked out against it: a
   * record whose roots no verified read tied to the content never backs a later proof check.
   */
  private async *rememberOnceVerified(
    content: AsyncGenerator<Uint8Array, boolean>,
    record: VersionRecord,
    end: () => void,
  ): AsyncGenerator<Uint8Array> {
    try {
      if (yield* content) this.remember(record)
    } catch (err) {
      // A read the client's closing cut off is no node's failure.
      if (this.closed && !(err instanceof RemoteError) && !(err instanceof IntegrityMismatchError))
        throw new ClientClosedError(undefined, { cause: err })
      throw err
    } finally {
      end()
    }
  }

  private remember(record: VersionRecord): void {
    if (this.records.size >= RECORD_CACHE_SIZE) this.records.delete(this.records.keys().next().value!)
    this.records.set(`${record.object_id}/${record.version}`, record)
  }
}

/**
 * The content, cancelled (the read stopped, its slot freed) when the consumer returns early. A
 * generator's own `finally` does that only once it has started: `return()` before the first `next()`
 * (a consumer that decides not to read after all) never runs its body.
 */
function cancelledOnReturn(
  content: AsyncGenerator<Uint8Array>,
  cancel: () => void,
): AsyncGenerator<Uint8Array> {
  const wrapped: AsyncGenerator<Uint8Array> = {
    next: (...args) => content.next(...args),
    throw: (err) => content.throw(err),
    return: async (value) => {
      cancel()
      return content.return(value)
    },
    [Symbol.asyncIterator]: () => wrapped,
  }
  return wrapped
}
