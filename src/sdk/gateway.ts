import { parseId } from '../core/bytes.js'
import { InvalidInputError } from '../core/errors.js'
import { objectId as deriveObjectId, validateVersion } from '../core/ids.js'
import type { PutOptions, StorageEngineApi } from '../engine/api.js'
import { IntegrityMismatchError, ObjectNotFoundError } from '../engine/errors.js'
import {
  type EngineFailure,
  failure,
  type ObjectSummary,
  type ReadResponse,
  type StoreResponse,
} from '../engine/responses.js'
import type { ContentSource } from '../engine/write.js'
import { EngineNotSetError } from './errors.js'
import { checkConfirmingEngines, sameSummary, summaryOfRead, unconfirmed } from './gateway-confirm.js'
import { latestVersion, writeNextVersion } from './versions.js'

export interface PublishRequest {
  namespace: string
  clientId: string
  /** Bytes, or a stream of known size (read once: a stream is not retried after a lost race). */
  content: Uint8Array | ContentSource
  /** PROTOCOL.md metadata: author_node_id and created_at_tick (a DeterministicTime tick) at least. */
  metadata: unknown
  signal?: AbortSignal
  onProgress?: PutOptions['onProgress']
}

export interface FeedQuery {
  tag?: string
  author?: string
  tickFrom?: number
  tickTo?: number
  /** Page size, 1..1000 (default 100). */
  limit?: number
  /** The previous page's `next_cursor`. */
  after?: { object_id: string; version: number }
  /** Also read each version's content (verified by the engine); delete markers carry null. */
  includeContent?: boolean
  signal?: AbortSignal
}

export interface FeedItem extends ObjectSummary {
  /** Present when the query asked for contents. */
  content_bytes?: Uint8Array | null
}

export interface FeedSuccess {
  ok: true
  items: FeedItem[]
  next_cursor: { object_id: string; version: number } | null
  storage_event_id: string
}

export interface MetadataSuccess extends ObjectSummary {
  ok: true
  storage_event_id: string
}

export interface GatewayOptions {
  /**
   * Other nodes that must confirm what the gateway's engine answers (docs/sdk.md "Confirming with
   * other nodes"): an odd number, none of them the engine's own node.
   */
  confirmWith?: readonly StorageEngineApi[]
}

export type FeedResponse = FeedSuccess | EngineFailure
export type MetadataResponse = MetadataSuccess | EngineFailure

/**
 * The ATLAS API gateway's storage integration (spec §6.1): a storage engine is injected with
 * `setStorageEngine`, and feed retrieval, user content publishing and metadata queries run on it. It
 * works the same over the in-process `StorageEngine` and the libp2p `QfsClient` (both are
 * `StorageEngineApi`). Answers are the QFS shapes; a call made before an engine is set throws
 * `ENGINE_NOT_SET` (a wiring mistake, not a storage failure).
 *
 * Feed order: the engine's deterministic order, `(object_id, version)` ascending, paged by
 * `next_cursor`. Newest-first would need the whole catalogue before the first page (the listing is
 * not indexed by tick, and ticks can tie), so callers wanting recency filter by `tickFrom`/`tickTo`.
 * Every version is an item, delete markers included (history is append-only).
 *
 * With nodes to confirm with (`confirmWith`, `setConfirmingEngines`), every version the engine
 * answers (a write's, a read's, each feed item, a metadata query's) is answered only once more than
 * half of those nodes list it the same way; otherwise the call fails NOT_CONFIRMED. One node then
 * cannot make the gateway serve a version the network did not decide.
 */
export class AtlasAPIGateway {
  private engine: StorageEngineApi | undefined
  private confirming: readonly StorageEngineApi[] | undefined

  constructor(engine?: StorageEngineApi, options: GatewayOptions = {}) {
    if (engine !== undefined) this.setStorageEngine(engine)
    if (options?.confirmWith !== undefined) this.setConfirmingEngines(options.confirmWith)
  }

  setStorageEngine(engine: StorageEngineApi): void {
    const methods = ['putContent', 'getContent', 'listObjects'] as const
    if (
      engine === null ||
      typeof engine !== 'object' ||
      methods.some((m) => typeof (engine as unknown as Record<string, unknown>)[m] !== 'function')
    ) {
      throw new InvalidInputError('a storage engine must implement StorageEngineApi')
    }
    if (this.confirming !== undefined) checkConfirmingEngines(this.confirming, engine)
    this.engine = engine
  }

  /**
   * The nodes that must confirm every version the engine answers from now on (a copy of the list is
   * kept); undefined stops confirming. Throws INVALID_INPUT for an empty list, a node given twice, or
   * the engine's own node.
   */
  setConfirmingEngines(engines: readonly StorageEngineApi[] | undefined): void {
    if (engines === undefined) {
      this.confirming = undefined
      return
    }
    checkConfirmingEngines(engines, this.engine)
    this.confirming = [...engines]
  }

  /**
   * Stores user content as the next version of `objectId(namespace, clientId)` (writeNextVersion:
   * the latest decided version + 1, tried again above a version a racing writer took or split).
   * Bytes are sent again when needed; a stream is read once, so it gets one attempt.
   */
  async publishUserContent(request: PublishRequest): Promise<StoreResponse> {
    const engine = this.require()
    let oid: string
    try {
      if (request === null || typeof request !== 'object')
        throw new InvalidInputError('request must be an object')
      oid = deriveObjectId(request.namespace, request.clientId)
    } catch (err) {
      return failure(err, null)
    }
    const options = { signal: request.signal, onProgress: request.onProgress }
    const confirming = this.confirming
    const stored = await writeNextVersion(
      engine,
      oid,
      (version) => engine.putContent(oid, version, request.content, request.metadata, options),
      { signal: request.signal, retries: request.content instanceof Uint8Array ? undefined : 0 },
    )
    if (!stored.ok || confirming === undefined) return stored
    // The answer's hash_commit is checked against the bytes and metadata sent; that the version was
    // decided is the engine's word until the other nodes list it with that hash_commit.
    return (await unconfirmed(confirming, stored, stored.storage_event_id, request.signal)) ?? stored
  }

  /** One page of the feed in the engine's order (see the class comment), optionally with contents. */
  async retrieveFeed(query: FeedQuery = {}): Promise<FeedResponse> {
    const engine = this.require()
    if (query === null || typeof query !== 'object') {
      return failure(new InvalidInputError('feed query must be an object'), null)
    }
    const page = await engine.listObjects(
      {
        tag: query.tag,
        author: query.author,
        tick_from: query.tickFrom,
        tick_to: query.tickTo,
        limit: query.limit,
        after: query.after,
      },
      { signal: query.signal },
    )
    if (!page.ok) return page
    const confirming = this.confirming
    const items: FeedItem[] = []
    for (const summary of page.objects) {
      // One item at a time: the nodes asked share a few listing slots per address (docs/protocol.md 4.3).
      if (confirming !== undefined) {
        const refused = await unconfirmed(confirming, summary, page.storage_event_id, query.signal)
        if (refused !== undefined) return refused
      }
      if (query.includeContent !== true) {
        items.push(summary)
        continue
      }
      if (summary.kind === 'DELETE_MARKER') {
        items.push({ ...summary, content_bytes: null })
        continue
      }
      // One item that cannot be read fails the page: a feed never silently drops what it listed.
      const got = await engine.getContent(summary.object_id, summary.version, { signal: query.signal })
      if (!got.ok) return got
      // The item's content is the version listed, or the page is not what it claims to be.
      if (!sameSummary(summaryOfRead(got), summary)) {
        return failure(
          new IntegrityMismatchError(
            `the read of ${summary.object_id} version ${summary.version} answered a record (version ${got.version}, hash_commit ${got.hash_commit}) other than the one listed (hash_commit ${summary.hash_commit})`,
          ),
          typeof got.storage_event_id === 'string' ? got.storage_event_id : null,
        )
      }
      items.push({ ...summary, content_bytes: got.content_bytes })
    }
    return { ok: true, items, next_cursor: page.next_cursor, storage_event_id: page.storage_event_id }
  }

  /**
   * A version's summary and metadata, from the catalogue alone (no content moves). Without a
   * version, the latest; as for reads, a latest that is a delete marker is SE_ERR_NOT_FOUND.
   */
  async queryMetadata(
    objectId: string,
    version?: number,
    options: { signal?: AbortSignal } = {},
  ): Promise<MetadataResponse> {
    const engine = this.require()
    const confirming = this.confirming
    try {
      parseId(objectId, 'object_id')
      if (version !== undefined) validateVersion(version)
    } catch (err) {
      return failure(err, null)
    }
    const confirmed = async (summary: ObjectSummary, storageEventId: string) =>
      confirming === undefined ? undefined : unconfirmed(confirming, summary, storageEventId, options.signal)
    if (version === undefined) {
      const latest = await latestVersion(engine, objectId, { signal: options.signal })
      if (!latest.ok) return latest
      if (latest.latest === null) {
        return failure(new ObjectNotFoundError(`object ${objectId} has no version`), latest.storage_event_id)
      }
      // A delete marker is confirmed too: otherwise one node could hide content by claiming one.
      const refused = await confirmed(latest.latest, latest.storage_event_id)
      if (refused !== undefined) return refused
      if (latest.latest.kind === 'DELETE_MARKER') {
        return failure(
          new ObjectNotFoundError(`object ${objectId} was deleted at version ${latest.latest.version}`),
          latest.storage_event_id,
        )
      }
      return { ok: true, ...latest.latest, storage_event_id: latest.storage_event_id }
    }
    const page = await engine.listObjects(
      {
        prefix: objectId,
        limit: 1,
        after: version > 1 ? { object_id: objectId, version: version - 1 } : undefined,
      },
      { signal: options.signal },
    )
    if (!page.ok) return page
    const found = page.objects[0]
    if (found === undefined || found.object_id !== objectId || found.version !== version) {
      return failure(
        new ObjectNotFoundError(`object ${objectId} version ${version} is not stored`),
        page.storage_event_id,
      )
    }
    const refused = await confirmed(found, page.storage_event_id)
    if (refused !== undefined) return refused
    return { ok: true, ...found, storage_event_id: page.storage_event_id }
  }

  /**
   * The verified content of a version (the latest when none is given), confirmed with the other
   * nodes when the gateway has them: the version, not that it is the latest.
   */
  async getContent(
    objectId: string,
    version?: number,
    options: { signal?: AbortSignal; maxBytes?: number } = {},
  ): Promise<ReadResponse> {
    const confirming = this.confirming
    const got = await this.require().getContent(objectId, version, options)
    if (!got.ok || confirming === undefined) return got
    return (await unconfirmed(confirming, summaryOfRead(got), got.storage_event_id, options.signal)) ?? got
  }

  private require(): StorageEngineApi {
    if (this.engine === undefined) throw new EngineNotSetError()
    return this.engine
  }
}
