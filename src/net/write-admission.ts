import { Admission, type Admitted, minRateAllowanceMs } from './admission.js'
import { WriteTooSlowError } from './errors.js'
import { MAX_DATA_BYTES } from './frames.js'
import { type Limits, PUSH_KEEPALIVE_IDLE_FACTOR, yieldAfterMs } from './protocols.js'

export type WriteLimits = Pick<
  Limits,
  'maxConcurrentWrites' | 'writeMinDeadlineMs' | 'writeMinBytesPerSecond'
> &
  Partial<Pick<Limits, 'yieldAfterWaitMs'>> & {
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
  return minRateAllowanceMs(received, {
    graceMs: limits.writeMinDeadlineMs,
    minBytesPerSecond: limits.writeMinBytesPerSecond,
  })
}

/**
 * One admitted write: its slot, and the clock of the time it keeps the node waiting for its next
 * frame. Its signal is also aborted with WRITE_TOO_SLOW when the client falls behind.
 */
export type AdmittedWrite = Admitted

/**
 * The public writes a node coordinates at once, and how slow each one's client may be. A write holds
 * staging on several replicas, streams and memory until it commits or fails; without a cap only
 * connections times their write streams (64 each) bound how many a node runs. Only time the node
 * spends waiting for the client's frames counts against it (not time the write waits on replicas).
 */
export class WriteAdmission extends Admission {
  /** `now` is a monotonic clock in ms (an observation for a timeout, never protocol data). */
  constructor(limits: WriteLimits, now?: () => number) {
    const cap = limits.maxConcurrentWrites
    super(
      {
        slots: cap,
        busy: `this node already coordinates ${cap} public writes; retry later or write through another node`,
        graceMs: limits.writeMinDeadlineMs,
        minBytesPerSecond: limits.writeMinBytesPerSecond,
        stall: limits.stall,
        yieldAfterMs: yieldAfterMs(limits, limits.writeMinDeadlineMs),
        verb: 'delivered',
        tooSlow: (detail) => new WriteTooSlowError(detail),
      },
      now,
    )
  }

  /** Writes holding a slot now. */
  get activeWrites(): number {
    return this.admitted
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
