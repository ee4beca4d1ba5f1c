import { Admission, type AdmissionRule, type Admitted } from './admission.js'
import { ReadTooSlowError } from './errors.js'
import { type Limits, yieldAfterMs } from './protocols.js'

export type ReadLimits = Pick<Limits, 'maxConcurrentReads' | 'readMinDeadlineMs' | 'readMinBytesPerSecond'> &
  Partial<Pick<Limits, 'yieldAfterWaitMs'>>

/**
 * One admitted read: its slot, and the clock of the time it keeps the node waiting for its client to
 * take bytes. Its signal is also aborted with READ_TOO_SLOW when the client falls behind.
 */
export type AdmittedRead = Admitted

/**
 * The public reads a node serves at once, and how slow each one's client may be in taking the
 * content (docs/protocol.md 4.3). A read holds a slot, its read-ahead and send buffers while its
 * server writes wait for the client's flow control; the idle timeout bounds each such wait only, so
 * a client granting window every 29 s, or never once the windows are full, would keep its slot for as
 * long as it likes. Only time the node spends waiting for the client to take bytes counts (not time
 * spent fetching from replicas). No stall window: no replica waits on a read's client.
 */
export class ReadAdmission extends Admission {
  /** `now` is a monotonic clock in ms (an observation for a timeout, never protocol data). */
  constructor(limits: ReadLimits, now?: () => number) {
    const cap = limits.maxConcurrentReads
    super(
      readRule(
        limits,
        cap,
        `this node already serves ${cap} reads; retry later or read through another node`,
      ),
      now,
    )
  }

  /** Reads holding a slot now. */
  get activeReads(): number {
    return this.admitted
  }
}

/** The read rule's timing, whatever an exchange sends its client under it. */
export type ReadRateLimits = Pick<Limits, 'readMinDeadlineMs' | 'readMinBytesPerSecond'> &
  Partial<Pick<Limits, 'yieldAfterWaitMs'>>

/**
 * The rule of exchanges whose client must take what the node sends (reads, and the proofs and
 * listing pages that also sit in send buffers until taken): `cap` slots, the read minimum rate, and
 * slots that move from an address keeping the node waiting to a newcomer from another.
 */
export function readRule(
  limits: ReadRateLimits,
  cap: number,
  busy: string,
  perSource?: number,
): AdmissionRule {
  return {
    slots: cap,
    busy,
    perSource,
    graceMs: limits.readMinDeadlineMs,
    minBytesPerSecond: limits.readMinBytesPerSecond,
    yieldAfterMs: yieldAfterMs(limits, limits.readMinDeadlineMs),
    verb: 'took',
    tooSlow: (detail) => new ReadTooSlowError(detail),
  }
}
