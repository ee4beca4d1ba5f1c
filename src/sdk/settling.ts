import { randomInt } from 'node:crypto'
import { performance } from 'node:perf_hooks'

/**
 * How long after this client cut a call short the node may still hold that call's slot. A call cut
 * short (its caller's abort, a timeout, an answer that broke the rules) has its stream reset and its
 * client slot freed at once; the node frees its own slot only once it has ended the call on its side,
 * after logging it (a signed audit entry, a disk write), and nothing reaches the client on a reset
 * stream to say when. A proof or listing started meanwhile can then be refused NODE_BUSY by the node
 * although the client kept within the node's caps (docs/sdk.md "Many calls at once").
 */
export const SETTLE_MS = 2_000
/**
 * The first pause before asking again, doubled after each refusal up to MAX_PAUSE_MS. Each pause is
 * drawn between half of that and the whole, so calls the node refused at the same moment (a burst
 * started together after a cancel) do not all ask again at the same moments.
 */
export const FIRST_PAUSE_MS = 10
export const MAX_PAUSE_MS = 200

/** The kinds of calls whose NODE_BUSY answers a client may take for the node still ending its own. */
export type SettlingKind = 'proofs' | 'listings'

/**
 * When this client last cut a proof or a listing short, and the asking again that a NODE_BUSY from
 * the node gets within SETTLE_MS of it. Past the window the refusal stands, so a node that never lets
 * go holds a call no longer than that: one call asks again for at most SETTLE_MS from its first
 * refusal, however often calls cut short meanwhile (other callers' timeouts, a node answering them
 * out of the rules) open the window again. Both calls only read, and a node refuses NODE_BUSY before its
 * engine runs or logs anything, so asking again changes nothing on the node.
 */
export class Settling {
  private readonly lastCut = new Map<SettlingKind, number>()

  /** `now` is a monotonic clock in ms (tests move it); `random` draws in [0, 1) (tests fix it). */
  constructor(
    private readonly now: () => number = () => performance.now(),
    // node:crypto, as the project's other random draws (keys, temporary names).
    private readonly random: () => number = () => randomInt(1_000_000) / 1_000_000,
  ) {}

  /** A call of `kind` was cut short: the node may hold its slot for a while yet. */
  cut(kind: SettlingKind): void {
    this.lastCut.set(kind, this.now())
  }

  /** Whether a NODE_BUSY to a call of `kind` may be the node still ending one this client cut. */
  unsettled(kind: SettlingKind): boolean {
    const at = this.lastCut.get(kind)
    return at !== undefined && this.now() - at < SETTLE_MS
  }

  /**
   * `attempt`'s answer; a NODE_BUSY from the node while `kind` is unsettled is asked again after a
   * pause. An abort of `signal` ends the pause, and the attempt after it (which fails as the caller's
   * abort does) is the last.
   */
  async answer<T extends { ok: boolean; code?: string }>(
    kind: SettlingKind,
    signal: AbortSignal,
    attempt: () => Promise<T>,
  ): Promise<T> {
    let pause = FIRST_PAUSE_MS
    let firstRefusal: number | undefined
    for (;;) {
      const answer = await attempt()
      if (answer.ok || answer.code !== 'NODE_BUSY' || !this.unsettled(kind) || signal.aborted) return answer
      firstRefusal ??= this.now()
      if (this.now() - firstRefusal >= SETTLE_MS) return answer
      await pauseFor(pause * (0.5 + this.random() / 2), signal)
      pause = Math.min(pause * 2, MAX_PAUSE_MS)
    }
  }
}

function pauseFor(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
