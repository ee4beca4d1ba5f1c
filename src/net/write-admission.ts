import { performance } from 'node:perf_hooks'
import { NodeBusyError, WriteTooSlowError } from './errors.js'
import { MAX_DATA_BYTES } from './frames.js'
import { type Limits, PUSH_KEEPALIVE_IDLE_FACTOR } from './protocols.js'

/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 0x7fffffff

export type WriteLimits = Pick<
  Limits,
  'maxConcurrentWrites' | 'writeMinDeadlineMs' | 'writeMinBytesPerSecond'
> & {
  /**
   * The most waiting a write may spend on any `bytes` of its content, however much allowance it
   * earned: its replicas hear of it only by whole blocks and keep-alives, and give up on a push that
   * brings no block for 30 idle timeouts (docs/protocol.md 4.2, `stallLimit`).
   */
  stall?: { bytes: number; ms: number }
}

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
    // The stall rule's window: content delivered up to its start, and waiting spent since.
    let windowStart = 0
    let windowWaitedMs = 0
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
        const rateLeft = waitAllowanceMs(received, limits) - waitedMs
        const stallLeft = limits.stall === undefined ? rateLeft : limits.stall.ms - windowWaitedMs
        const fail = () =>
          controller.abort(
            new WriteTooSlowError(
              stallLeft < rateLeft
                ? `the client delivered less than ${limits.stall!.bytes} bytes in ${limits.stall!.ms} ms of waiting`
                : `the client delivered ${received} bytes in ${Math.round(waitedMs + now() - since!)} ms of waiting, below the node's minimum rate`,
            ),
          )
        const left = Math.min(rateLeft, stallLeft)
        if (left <= 0) fail()
        else timer = setTimeout(fail, Math.min(left, MAX_TIMER_MS))
      },
      endWait: (bytes) => {
        if (since === undefined) return
        stopTimer()
        const waited = now() - since
        waitedMs += waited
        windowWaitedMs += waited
        since = undefined
        received += bytes
        const window = limits.stall?.bytes
        if (window !== undefined && received - windowStart >= window) {
          windowStart = received - ((received - windowStart) % window)
          windowWaitedMs = 0
        }
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

/** The stall rule's window: a write's every 256 KiB of content must come within `stallLimit`. */
export const STALL_WINDOW_BYTES = 256 * 1024

/**
 * Windows a replica stream may wait through before its next block, at worst: one opened ahead waits
 * for the pre-open window (at most MAX_REPLICA_PREOPEN_BYTES) and a block (at most a DATA frame),
 * and those bytes touch at most two windows more than they fill.
 */
export const STALL_WINDOWS = Math.ceil((MAX_REPLICA_PREOPEN_BYTES + MAX_DATA_BYTES) / STALL_WINDOW_BYTES) + 2

/**
 * The stall rule of a node with `idleTimeoutMs`: replicas end a push that brings nothing but
 * keep-alives for PUSH_KEEPALIVE_IDLE_FACTOR idle timeouts, so a write may wait that long divided by
 * STALL_WINDOWS (41 s at the defaults) for any 256 KiB of its content, whatever allowance it earned.
 * A client at the minimum rate (64 KiB/s) sends 256 KiB in 4 s.
 */
export function stallLimit(idleTimeoutMs: number): { bytes: number; ms: number } {
  return {
    bytes: STALL_WINDOW_BYTES,
    ms: Math.floor((idleTimeoutMs * PUSH_KEEPALIVE_IDLE_FACTOR) / STALL_WINDOWS),
  }
}
