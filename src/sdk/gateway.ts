import { parseId } from '../core/bytes.js'
import { InvalidInputError } from '../core/errors.js'
import { objectId as deriveObjectId, validateVersion } from '../core/ids.js'
import type { PutOptions, StorageEngineApi } from '../engine/api.js'
import { ObjectNotFoundError } from '../engine/errors.js'
import {
  type EngineFailure,
  failure,
  type ObjectSummary,
  type ReadResponse,
  type StoreResponse,
} from '../engine/responses.js'
import type { ContentSource } from '../engine/write.js'
import { EngineNotSetError } from './errors.js'
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
 */
export class AtlasAPIGateway {
  private engine: StorageEngineApi | undefined

  constructor(engine?: StorageEngineApi) {
    if (engine !== undefined) this.setStorageEngine(engine)
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
    this.engine = engine
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
    return writeNextVersion(
      engine,
      oid,
      (version) => engine.putContent(oid, version, request.content, request.metadata, options),
      { signal: request.signal, retries: request.content instanceof Uint8Array ? undefined : 0 },
    )
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
    const items: FeedItem[] = []
    for (const summary of page.objects) {
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
    try {
      parseId(objectId, 'object_id')
      if (version !== undefined) validateVersion(version)
    } catch (err) {
      return failure(err, null)
    }
    if (version === undefined) {
      const latest = await latestVersion(engine, objectId, { signal: options.signal })
      if (!latest.ok) return latest
      if (latest.latest === null) {
        return failure(new ObjectNotFoundError(`object ${objectId} has no version`), latest.storage_event_id)
      }
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
    return { ok: true, ...found, storage_event_id: page.storage_event_id }
  }

  /** The verified content of a version (the latest when none is given). */
  getContent(
    objectId: string,
    version?: number,
    options: { signal?: AbortSignal; maxBytes?: number } = {},
  ): Promise<ReadResponse> {
    return this.require().getContent(objectId, version, options)
  }

  private require(): StorageEngineApi {
    if (this.engine === undefined) throw new EngineNotSetError()
    return this.engine
  }
}
