import { performance } from 'node:perf_hooks'
import { NodeBusyError, WriteTooSlowError } from './errors.js'
import type { Limits } from './protocols.js'

/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 0x7fffffff

export type WriteLimits = Pick<
  Limits,
  'maxConcurrentWrites' | 'writeMinDeadlineMs' | 'writeMinBytesPerSecond'
>

/**
 * How long a write may have kept the node waiting for its content once it delivered `received`
 * bytes: writeMinDeadlineMs + floor(received * 1000 / writeMinBytesPerSecond) ms (docs/protocol.md
 * 4.2), computed exactly. A client gets a grace period, then must keep up the minimum rate.
 */
export function waitAllowanceMs(received: number, limits: WriteLimits): number {
  const earned = (BigInt(received) * 1000n) / BigInt(limits.writeMinBytesPerSecond)
  const ms = BigInt(limits.writeMinDeadlineMs) + earned
  return ms > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(ms)
}

/** One admitted write: its slot, and the clock of the time it keeps the node waiting. */
export interface AdmittedWrite {
  /** The exchange's signal, also aborted with WRITE_TOO_SLOW when the client falls behind. */
  readonly signal: AbortSignal
  /** The node starts waiting for the client's next frame. */
  beginWait(): void
  /** The frame arrived with `bytes` of content; the wait since beginWait is counted. */
  endWait(bytes: number): void
  /** Frees the slot and the timer; once is enough, more are ignored. */
  release(): void
}

/**
 * The public writes a node coordinates at once, and how slow each one's client may be. A write holds
 * staging on several replicas, streams and memory until it commits or fails; without a cap only
 * connections times their write streams (64 each) bound how many a node runs. Only time the node
 * spends waiting for the client counts against it (not time the write waits on replicas), and the
 * allowance grows with what was delivered, so a client that trickles bytes loses its slot early
 * rather than at the end of a deadline sized for the whole content.
 */
export class WriteAdmission {
  private readonly limits: WriteLimits
  private readonly now: () => number
  private active = 0

  /** `now` is a monotonic clock in ms (an observation for a timeout, never protocol data). */
  constructor(limits: WriteLimits, now: () => number = () => performance.now()) {
    this.limits = limits
    this.now = now
  }

  /** Writes holding a slot now. */
  get activeWrites(): number {
    return this.active
  }

  /** A slot for a write, or NODE_BUSY at once when all are taken. */
  admit(signal: AbortSignal): AdmittedWrite {
    const cap = this.limits.maxConcurrentWrites
    if (this.active >= cap) {
      throw new NodeBusyError(
        `this node already coordinates ${cap} public writes; retry later or write through another node`,
      )
    }
    this.active++
    const { limits, now } = this
    // A controller of our own rather than AbortSignal.any: its listener is removed on release, so a
    // long-lived exchange signal does not collect one per write.
    const controller = new AbortController()
    const onAbort = () => controller.abort(signal.reason)
    if (signal.aborted) controller.abort(signal.reason)
    else signal.addEventListener('abort', onAbort, { once: true })
    let received = 0
    let waitedMs = 0
    let since: number | undefined
    let timer: NodeJS.Timeout | undefined
    let released = false
    const stopTimer = () => {
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
    }
    return {
      signal: controller.signal,
      beginWait: () => {
        if (released || since !== undefined) return
        since = now()
        const left = waitAllowanceMs(received, limits) - waitedMs
        const fail = () =>
          controller.abort(
            new WriteTooSlowError(
              `the client delivered ${received} bytes in ${Math.round(waitedMs + now() - since!)} ms of waiting, below the node's minimum rate`,
            ),
          )
        if (left <= 0) fail()
        else timer = setTimeout(fail, Math.min(left, MAX_TIMER_MS))
      },
      endWait: (bytes) => {
        if (since === undefined) return
        stopTimer()
        waitedMs += now() - since
        since = undefined
        received += bytes
      },
      release: () => {
        if (released) return
        released = true
        stopTimer()
        signal.removeEventListener('abort', onAbort)
        this.active--
      },
    }
  }
}

/** The most a coordinator opens replica streams ahead of the bytes it is sending (docs/protocol.md 4.2). */
export const MAX_REPLICA_PREOPEN_BYTES = 4 * 1024 * 1024

/**
 * How far ahead of the bytes being sent a coordinator may open a shard's replica streams. An opened
 * stream waits for its first block, and a replica gives up on a stream that brings nothing for its
 * idle timeout; a client at the slowest rate a node accepts must still deliver the window and one
 * block within half of it: (ahead + block) * 1000 / writeMinBytesPerSecond <= idleTimeoutMs / 2.
 * Zero when even one block takes longer: each shard is then opened only once its bytes are at hand.
 */
export function replicaPreopenBytes(
  limits: Pick<Limits, 'writeMinBytesPerSecond' | 'idleTimeoutMs'>,
  blockSizeBytes: number,
): number {
  const fits =
    (BigInt(limits.writeMinBytesPerSecond) * BigInt(limits.idleTimeoutMs)) / 2000n - BigInt(blockSizeBytes)
  if (fits <= 0n) return 0
  return fits > BigInt(MAX_REPLICA_PREOPEN_BYTES) ? MAX_REPLICA_PREOPEN_BYTES : Number(fits)
}
