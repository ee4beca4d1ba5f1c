import { parseId } from '../core/bytes.js'
import type { CallOptions, StorageEngineApi } from '../engine/api.js'
import { MAX_LATEST_STEPS_BACK } from '../engine/catalogue.js'
import { IntegrityMismatchError } from '../engine/errors.js'
import { MAX_PAGE } from '../engine/list.js'
import { type EngineFailure, failure, type ObjectSummary, type StoreResponse } from '../engine/responses.js'

export interface LatestVersion {
  ok: true
  /** The highest decided version (a delete marker included), or null when the object has none. */
  latest: ObjectSummary | null
  /** The event of the last listing call. */
  storage_event_id: string
}

/**
 * The latest decided version of one object, through `listObjects({prefix: object_id})`: a full-length
 * prefix names exactly one object, and the listing's majority rule is the one reads use, so the
 * answer is a version every reader agrees exists. Pages are followed to the end (versions ascend).
 */
export async function latestVersion(
  engine: StorageEngineApi,
  objectId: string,
  options: CallOptions = {},
): Promise<LatestVersion | EngineFailure> {
  try {
    parseId(objectId, 'object_id')
  } catch (err) {
    return failure(err, null)
  }
  let latest: ObjectSummary | null = null
  let after: { object_id: string; version: number } | undefined
  for (;;) {
    const page = await engine.listObjects({ prefix: objectId, limit: MAX_PAGE, after }, options)
    if (!page.ok) return page
    const last = page.objects[page.objects.length - 1]
    if (last !== undefined) latest = last
    if (page.next_cursor === null) return { ok: true, latest, storage_event_id: page.storage_event_id }
    const next = page.next_cursor
    if (next.object_id !== objectId || (after !== undefined && next.version <= after.version)) {
      return failure(new IntegrityMismatchError('the listing cursor did not advance'), page.storage_event_id)
    }
    after = next
  }
}

/**
 * Writes the next version of an object: the latest decided version + 1. A version some writer
 * holds at a home answers `VERSION_CONFLICT`: taken by a writer that raced us (the latest moves up
 * to it), or split between racing writers (the latest stays below it, docs/consistency.md "Racing
 * writers"); the write is then tried again above both, at most `retries` more times (default
 * MAX_LATEST_STEPS_BACK, the most split versions a read steps back over). A gap (`INVALID_VERSION`)
 * says the latest read was behind: it is read again. `write` must be repeatable (bytes, or a file
 * read again); pass `retries: 0` for content that can be sent once.
 */
export async function writeNextVersion(
  engine: StorageEngineApi,
  objectId: string,
  write: (version: number) => Promise<StoreResponse>,
  options: CallOptions & { retries?: number } = {},
): Promise<StoreResponse> {
  const retries = options.retries ?? MAX_LATEST_STEPS_BACK
  let refused = 0
  for (let attempt = 0; ; attempt++) {
    const latest = await latestVersion(engine, objectId, { signal: options.signal })
    if (!latest.ok) return latest
    const version = Math.max((latest.latest?.version ?? 0) + 1, refused + 1)
    const answer = await write(version)
    if (answer.ok || answer.error_code !== 'SE_ERR_INVALID_VERSION' || attempt >= retries) return answer
    if (answer.code === 'VERSION_CONFLICT') refused = version
  }
}
