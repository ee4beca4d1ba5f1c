/** What a QfsClient call takes from its caller, checked or guarded before anything is dialled. */
import { InvalidInputError } from '../core/errors.js'
import { metadataSeed, normalizeMetadata } from '../core/metadata.js'

/**
 * The caller's progress callback, kept from deciding the call: progress is observed, never part of
 * the storage operation, so one that throws is reported in a process warning (once) and not called
 * again, and the call goes on. Left to fail the call, its bug would be reported as the node's.
 */
export function guardedProgress<T>(callback: ((p: T) => void) | undefined): ((p: T) => void) | undefined {
  if (callback === undefined) return undefined
  let failed = false
  return (p: T) => {
    if (failed) return
    try {
      callback(p)
    } catch (err) {
      failed = true
      process.emitWarning(
        `onProgress threw, and is not called again for this call: ${(err as Error)?.message ?? String(err)}`,
        { code: 'QFS_PROGRESS_CALLBACK_FAILED' },
      )
    }
  }
}

/** setTimeout's longest delay; a longer one fires at once (with a warning). */
const MAX_TIMER_MS = 0x7fffffff

/** A timeout from `QfsClientInit.timeouts`: whole milliseconds in 1..MAX_TIMER_MS, or the default. */
export function timeoutOption(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > MAX_TIMER_MS) {
    throw new InvalidInputError(`timeouts.${name} must be whole milliseconds in 1..${MAX_TIMER_MS}`)
  }
  return value
}

/** The metadata seed when the metadata is valid; otherwise the node refuses it and there is nothing to check. */
export function seedOf(metadata: unknown): Uint8Array | undefined {
  try {
    return metadataSeed(normalizeMetadata(metadata))
  } catch {
    return undefined
  }
}
