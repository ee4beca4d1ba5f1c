import { NodeBusyError, WriteTooSlowError } from './errors.js'
import type { Limits } from './protocols.js'

/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 0x7fffffff

export type WriteLimits = Pick<
  Limits,
  'maxConcurrentWrites' | 'writeMinDeadlineMs' | 'writeMinBytesPerSecond'
>

/**
 * How long a public write may take to deliver `contentSize` bytes: max(writeMinDeadlineMs,
 * ceil(contentSize * 1000 / writeMinBytesPerSecond)) ms (docs/protocol.md 4.2), computed exactly,
 * and no longer than a timer can wait.
 */
export function writeDeadlineMs(contentSize: number, limits: WriteLimits): number {
  const rate = BigInt(limits.writeMinBytesPerSecond)
  const bySize = (BigInt(contentSize) * 1000n + rate - 1n) / rate
  const ms = bySize > BigInt(limits.writeMinDeadlineMs) ? bySize : BigInt(limits.writeMinDeadlineMs)
  return ms > BigInt(MAX_TIMER_MS) ? MAX_TIMER_MS : Number(ms)
}

/** One admitted write: its slot and its deadline. */
export interface AdmittedWrite {
  /** The exchange's signal, also aborted with WRITE_TOO_SLOW when the content is late. */
  readonly signal: AbortSignal
  /** The content is all in (END read): the deadline no longer applies. */
  delivered(): void
  /** Frees the slot and the timer; once is enough, more are ignored. */
  release(): void
}

/**
 * The public writes a node coordinates at once, and each one's deadline for its content. A write
 * holds staging on several replicas, streams and memory until it commits or fails; without a cap
 * only connections times their write streams (64 each) bound how many a node runs.
 */
export class WriteAdmission {
  private readonly limits: WriteLimits
  private active = 0

  constructor(limits: WriteLimits) {
    this.limits = limits
  }

  /** Writes holding a slot now. */
  get activeWrites(): number {
    return this.active
  }

  /** A slot for a write announcing `contentSize` bytes, or NODE_BUSY at once when all are taken. */
  admit(contentSize: number, signal: AbortSignal): AdmittedWrite {
    const cap = this.limits.maxConcurrentWrites
    if (this.active >= cap) {
      throw new NodeBusyError(
        `this node already coordinates ${cap} public writes; retry later or write through another node`,
      )
    }
    this.active++
    const ms = writeDeadlineMs(contentSize, this.limits)
    // A controller of our own rather than AbortSignal.any: its listener is removed on release, so a
    // long-lived exchange signal does not collect one per write.
    const controller = new AbortController()
    const onAbort = () => controller.abort(signal.reason)
    if (signal.aborted) controller.abort(signal.reason)
    else signal.addEventListener('abort', onAbort, { once: true })
    const timer = setTimeout(() => {
      controller.abort(
        new WriteTooSlowError(`${contentSize} bytes of content were not delivered within ${ms} ms`),
      )
    }, ms)
    let released = false
    return {
      signal: controller.signal,
      delivered: () => clearTimeout(timer),
      release: () => {
        if (released) return
        released = true
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        this.active--
      },
    }
  }
}
