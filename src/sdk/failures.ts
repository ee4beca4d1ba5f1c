import { QfsError } from '../core/errors.js'
import { type EngineFailure, failure } from '../engine/responses.js'
import { RemoteError } from '../net/errors.js'

/**
 * The local error behind each answer `toFailure` made. The answer itself keeps only safe words (the
 * wire rule: error_detail never carries libp2p's or the OS's text); a program on this machine (the
 * CLI) may still name the local cause, "connection refused" or the peer that answered instead.
 * Weak: an answer that is dropped takes its cause with it.
 */
const causes = new WeakMap<EngineFailure, unknown>()

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
  const answer = failure(err, storageEventId)
  // The caller's own content failed (ContentSourceError, net/dial.ts; matched by its code, so this
  // module loads no libp2p): internal to the interface's code set, but its words (fixed, ours) say
  // that the source failed, not a node, and that nothing was written.
  if (err instanceof QfsError && err.code === 'CONTENT_SOURCE_FAILED') answer.error_detail = err.message
  causes.set(answer, err)
  return answer
}

/** The error `toFailure` turned into this answer (its `cause` chain intact), if it made it. */
export function failureCause(answer: EngineFailure): unknown {
  return causes.get(answer)
}
