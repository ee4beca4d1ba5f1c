import { type EngineFailure, failure } from '../engine/responses.js'
import { RemoteError } from '../net/errors.js'

/** Any failure in the QFS shape; a remote's own verdict keeps its SE_ERR_* code. */
export function toFailure(err: unknown, storageEventId: string | null): EngineFailure {
  if (err instanceof RemoteError) {
    return {
      ok: false,
      error_code: err.errorCode,
      error_detail: err.detail,
      code: err.code,
      storage_event_id: storageEventId,
    }
  }
  return failure(err, storageEventId)
}
