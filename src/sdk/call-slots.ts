import { InvalidInputError } from '../core/errors.js'
import { NodeBusyError } from '../net/errors.js'

/** How many calls of each kind one client runs on its node at once; the rest wait their turn. */
export interface CallLimits {
  /** `putContent`, `deleteContent`. */
  writes: number
  /** `readContent`, `getContent`, `getRecord`: a read holds its slot while the node serves it (or until cancelled). */
  reads: number
  /** `fetchStorageProof` (and the proof half of `getStorageProof`). */
  proofs: number
  /** `listObjects` (and the listings of `latestVersion` and the gateway's feed). */
  listings: number
}

/**
 * A node's default caps (docs/protocol.md section 3): 32 public writes and 32 reads at once, and of
 * its 16 proofs and 4 listings at most 8 and 2 for one address, one more refused with NODE_BUSY; and
 * libp2p lets at most 64 streams of one protocol open on a connection, where one more is reset. A
 * client that keeps within the first never meets the second, and its burst waits here instead of
 * being refused.
 */
export const DEFAULT_CALL_LIMITS: Readonly<CallLimits> = Object.freeze({
  writes: 32,
  reads: 32,
  proofs: 8,
  listings: 2,
})

/** The largest limit a client takes: past the node's stream caps more slots only buy resets. */
export const MAX_CALL_LIMIT = 1024

/** Each limit a whole number in 1..MAX_CALL_LIMIT, or its default; anything else is INVALID_INPUT. */
export function resolveCallLimits(value: unknown): CallLimits {
  if (value === undefined) return { ...DEFAULT_CALL_LIMITS }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new InvalidInputError('maxConcurrent must be an object {writes?, reads?, proofs?, listings?}')
  const given = value as Record<string, unknown>
  for (const key of Object.keys(given)) {
    if (!(key in DEFAULT_CALL_LIMITS))
      throw new InvalidInputError(`maxConcurrent.${key} is unknown (writes, reads, proofs, listings)`)
  }
  const limits = { ...DEFAULT_CALL_LIMITS }
  for (const key of Object.keys(DEFAULT_CALL_LIMITS) as Array<keyof CallLimits>) {
    const v = given[key]
    if (v === undefined) continue
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > MAX_CALL_LIMIT)
      throw new InvalidInputError(`maxConcurrent.${key} must be a whole number in 1..${MAX_CALL_LIMIT}`)
    limits[key] = v
  }
  return limits
}

interface Waiter {
  grant: (release: () => void) => void
  refuse: (err: unknown) => void
}

/**
 * Slots for one kind of call, handed out first come, first served. A call waits for one at most
 * `waitMs` (then NODE_BUSY: the client's own calls fill them) and no longer than its signal.
 */
export class CallSlots {
  private running = 0
  private readonly waiting = new Set<Waiter>()

  constructor(
    private readonly kind: keyof CallLimits,
    private readonly size: number,
    private readonly waitMs: number,
  ) {}

  /** Calls holding a slot now, and calls waiting for one. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.size }
  }

  /**
   * Resolves with the slot's release (idempotent) once one is free. Rejects with the signal's reason
   * when it aborts first, and with NodeBusyError after `waitMs`.
   */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason)
    if (this.running < this.size && this.waiting.size === 0) {
      this.running++
      return Promise.resolve(this.releaser())
    }
    return new Promise((resolve, reject) => {
      const leave = () => {
        this.waiting.delete(waiter)
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
      }
      const waiter: Waiter = {
        grant: (release) => {
          leave()
          resolve(release)
        },
        refuse: (err) => {
          leave()
          reject(err)
        },
      }
      const onAbort = () => waiter.refuse(signal.reason)
      const timer = setTimeout(
        () =>
          waiter.refuse(
            new NodeBusyError(
              `this client already runs ${this.size} ${this.kind} on the node and none ended within ${this.waitMs} ms: retry later, or raise maxConcurrent.${this.kind} (the node's own caps permitting)`,
            ),
          ),
        this.waitMs,
      )
      timer.unref()
      signal.addEventListener('abort', onAbort, { once: true })
      this.waiting.add(waiter)
    })
  }

  /** Refuses every waiting call with `err` (the client is closing). */
  refuseWaiting(err: unknown): void {
    for (const waiter of [...this.waiting]) waiter.refuse(err)
  }

  private releaser(): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      // A freed slot passes straight to the longest waiter (a Set iterates in insertion order).
      const next = this.waiting.values().next()
      if (next.done === true) this.running--
      else next.value.grant(this.releaser())
    }
  }
}

/**
 * A signal that aborts with whichever of `sources` aborts first, and that lets go of them on
 * `dispose` (of one of them on `detach`).
 */
export function linkedSignal(sources: ReadonlyArray<AbortSignal | undefined>): {
  signal: AbortSignal
  dispose: () => void
  detach: (source: AbortSignal) => void
} {
  // Not AbortSignal.any: Node 22 can keep such a composite, and what its reason holds, reachable from
  // a long-lived source (nodejs/node#54614; engine/deadline.ts), and the client's own closing signal
  // lives as long as the client.
  const controller = new AbortController()
  const present = sources.filter((s): s is AbortSignal => s !== undefined)
  const listeners = present.map((source) => {
    const onAbort = () => {
      dispose()
      controller.abort(source.reason)
    }
    return { source, onAbort }
  })
  const dispose = () => {
    for (const { source, onAbort } of listeners) source.removeEventListener('abort', onAbort)
  }
  const first = listeners.find(({ source }) => source.aborted)
  if (first !== undefined) controller.abort(first.source.reason)
  else for (const { source, onAbort } of listeners) source.addEventListener('abort', onAbort, { once: true })
  const detach = (source: AbortSignal) => {
    for (const l of listeners) if (l.source === source) source.removeEventListener('abort', l.onAbort)
  }
  return { signal: controller.signal, dispose, detach }
}
