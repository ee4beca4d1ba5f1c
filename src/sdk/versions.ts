import { parseId } from '../core/bytes.js'
import type { StorageEngineApi } from '../engine/api.js'
import type { CallOptions } from '../engine/engine.js'
import { IntegrityMismatchError } from '../engine/errors.js'
import { MAX_PAGE } from '../engine/list.js'
import { type EngineFailure, failure, type ObjectSummary } from '../engine/responses.js'

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
