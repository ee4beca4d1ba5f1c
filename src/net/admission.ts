import { performance } from 'node:perf_hooks'
import type { QfsError } from '../core/errors.js'
import { NodeBusyError } from './errors.js'
import { type ShareMember, SlotShare } from './slot-share.js'

/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 0x7fffffff

/**
 * What an admission enforces on the public exchanges it admits (writes, reads: docs/protocol.md 4.2,
 * 4.3), and how it names its refusals.
 */
export interface AdmissionRule {
  /** Exchanges admitted at once; one more is refused at once with NODE_BUSY. */
  slots: number
  /** The NODE_BUSY detail once every slot is taken. */
  busy: string
  /** The waiting an exchange gets before the minimum rate applies, in ms. */
  graceMs: number
  /** Bytes the client must move per further second the node spends waiting for it. */
  minBytesPerSecond: number
  /**
   * The most waiting allowed for any `bytes` of the exchange, however much allowance it earned
   * (writes: their replicas hear of them only by whole blocks, docs/protocol.md 4.2).
   */
  stall?: { bytes: number; ms: number }
  /**
   * The waiting an exchange must have cost the node, in all, before it can yield its slot to a
   * client from another address (`Admission.yielding`): a fair hearing first.
   */
  yieldAfterMs: number
  /**
   * The most slots one address holds at once, even while others are free; one more from it is
   * NODE_BUSY. For exchanges that spend their slot time on the nodes they ask rather than waiting on
   * their client (proofs, listings): such a slot is never one the node waits on, so it can never
   * yield to a newcomer, and without this bound one address could keep every slot.
   */
  perSource?: number
  /** What the client does with the bytes, in details: `delivered` (a write), `took` (a read). */
  verb: string
  /** The error an exchange that falls behind is aborted with, from a detail saying how. */
  tooSlow: (detail: string) => QfsError
}

/**
 * How long an exchange may have kept the node waiting once `moved` bytes went through:
 * graceMs + floor(moved * 1000 / minBytesPerSecond) ms, computed exactly. A client gets a grace
 * period, then must keep up the minimum rate.
 */
export function minRateAllowanceMs(
  moved: number,
  rule: Pick<AdmissionRule, 'graceMs' | 'minBytesPerSecond'>,
): number {
  const earned = (BigInt(moved) * 1000n) / BigInt(rule.minBytesPerSecond)
  const ms = BigInt(rule.graceMs) + earned
  return ms > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(ms)
}

/** One admitted exchange: its slot, and the clock of the time it keeps the node waiting. */
export interface Admitted {
  /** The exchange's signal, also aborted with the rule's too-slow error when the client falls behind. */
  readonly signal: AbortSignal
  /** The node starts waiting for the client (for its next frame, or to take our bytes). */
  beginWait(): void
  /** The wait is over and `bytes` of content went through; the wait since beginWait is counted. */
  endWait(bytes: number): void
  /** Frees the slot and the timer; once is enough, more are ignored. */
  release(): void
}

/** One exchange holding a slot, as the admission's share sees it. */
interface Member extends ShareMember {
  /** Ends the exchange with the rule's too-slow error and frees its slot now. */
  evict(detail: string): void
}

/**
 * Slots for the public exchanges of one kind that a node runs at once, and how slow each one's
 * client may be. Only time the node spends waiting for the client counts against it (not time it
 * spends on replicas), and the allowance grows with the bytes that went through, so a client that
 * trickles loses its slot as soon as it falls behind rather than at the end of a deadline sized for
 * the whole content. When every slot is taken, a slot may move from a slow address to a client from
 * another one (slot-share.ts).
 */
export class Admission {
  private readonly rule: AdmissionRule
  private readonly now: () => number
  private active = 0
  private yielded = 0
  private readonly share: SlotShare<Member>

  /** `now` is a monotonic clock in ms (an observation for a timeout, never protocol data). */
  constructor(rule: AdmissionRule, now: () => number = () => performance.now()) {
    this.rule = rule
    this.now = now
    this.share = new SlotShare<Member>(
      { yieldAfterMs: rule.yieldAfterMs, minBytesPerSecond: rule.minBytesPerSecond },
      now,
    )
  }

  /** Exchanges holding a slot now. */
  protected get admitted(): number {
    return this.active
  }

  /** Exchanges that gave their slot to a client from another address, since the node started. */
  get yields(): number {
    return this.yielded
  }

  /**
   * A slot for an exchange from `source` (the client's network address, net/source-address.ts), or
   * NODE_BUSY at once when all are taken and no other address owes this one a slot (slot-share.ts).
   */
  admit(signal: AbortSignal, source = ''): Admitted {
    const { perSource } = this.rule
    if (perSource !== undefined && this.share.slotsOf(source) >= perSource) {
      throw new NodeBusyError(
        `${this.rule.busy} (an address holds at most ${perSource} of them at once, so other clients keep theirs)`,
      )
    }
    if (this.active >= this.rule.slots) {
      const owing = this.share.victimFor(source)
      if (owing === undefined) throw new NodeBusyError(this.rule.busy)
      this.yielded++
      owing.member.evict(
        `its address's exchanges ${this.rule.verb} ${owing.moved} bytes in ${owing.waited} ms of waiting lately; this one's slot went to a client from another address while every slot was taken`,
      )
    }
    this.active++
    const { rule, now, share } = this
    // A controller of our own rather than AbortSignal.any: its listener is removed on release, so a
    // long-lived exchange signal does not collect one per exchange.
    const controller = new AbortController()
    const onAbort = () => controller.abort(signal.reason)
    if (signal.aborted) controller.abort(signal.reason)
    else signal.addEventListener('abort', onAbort, { once: true })
    let moved = 0
    let waitedMs = 0
    // The stall rule's window: bytes moved up to its start, and waiting spent since.
    let windowStart = 0
    let windowWaitedMs = 0
    let since: number | undefined
    let timer: NodeJS.Timeout | undefined
    let released = false
    const stopTimer = () => {
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
    }
    const release = () => {
      if (released) return
      released = true
      stopTimer()
      signal.removeEventListener('abort', onAbort)
      // A wait cut short by the end of the exchange still cost the node: its address keeps it.
      if (since !== undefined) share.waitEnded(source, now() - since, 0)
      since = undefined
      share.leave(source, member)
      this.active--
    }
    const member: Member = {
      moved: () => moved,
      waited: () => waitedMs + (since === undefined ? 0 : now() - since),
      waitingSince: () => since,
      evict: (detail) => {
        controller.abort(rule.tooSlow(detail))
        release()
      },
    }
    share.join(source, member)
    // Once the exchange is ended (too slow, yielded, reset, or the node's own deadline), what follows
    // is the node cleaning up, not the client keeping it waiting: the wait stops counting, and an
    // ended exchange is no longer one the node waits on, so it cannot be chosen to yield.
    controller.signal.addEventListener(
      'abort',
      () => {
        if (since === undefined) return
        stopTimer()
        const waited = now() - since
        waitedMs += waited
        since = undefined
        share.waitEnded(source, waited, 0)
      },
      { once: true },
    )
    return {
      signal: controller.signal,
      beginWait: () => {
        if (released || since !== undefined || controller.signal.aborted) return
        since = now()
        const rateLeft = minRateAllowanceMs(moved, rule) - waitedMs
        const stallLeft = rule.stall === undefined ? rateLeft : rule.stall.ms - windowWaitedMs
        const fail = () =>
          controller.abort(
            rule.tooSlow(
              stallLeft < rateLeft
                ? `the client ${rule.verb} less than ${rule.stall!.bytes} bytes in ${rule.stall!.ms} ms of waiting`
                : `the client ${rule.verb} ${moved} bytes in ${Math.round(waitedMs + now() - since!)} ms of waiting, below the node's minimum rate`,
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
        moved += bytes
        share.waitEnded(source, waited, bytes)
        const window = rule.stall?.bytes
        if (window !== undefined && moved - windowStart >= window) {
          windowStart = moved - ((moved - windowStart) % window)
          windowWaitedMs = 0
        }
      },
      release,
    }
  }
}
