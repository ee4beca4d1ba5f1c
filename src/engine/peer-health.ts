/**
 * What this node has lately seen of its peers, used only to choose which replica a read asks first
 * (and for metrics). A replica that timed out or could not be reached is tried last for a while, so
 * one frozen node costs one timeout, not one per read. The record, the placement, deadlines and every
 * byte are unchanged by it: only the order in which equal copies are tried (docs/consistency.md).
 */
export interface PeerHealth {
  /** An exchange with `node` failed with this fine code. */
  failed(node: string, code: string): void
  /** `node` served what was asked. */
  answered(node: string): void
  /** Whether `node` failed to answer recently enough to be tried after the others. */
  suspect(node: string): boolean
}

/** Codes that say a node is away rather than wrong. */
const UNAVAILABLE = new Set(['NODE_UNAVAILABLE', 'TIMEOUT', 'STREAM_ENDED', 'STORE_CLOSED'])

const CUT_SHORT = 'CUT_SHORT'

/** How long a peer that failed to answer is tried last. */
export const SUSPECT_MS = 30_000

export interface RecentFailuresInit {
  suspectMs?: number
  /** Local wall clock (ms); an observation for ordering, never protocol data. */
  now?: () => number
  /** Every failure, for metrics and logs (a replica serving bad bytes is worth a warning). */
  onFailure?: (node: string, code: string) => void
}

export class RecentFailures implements PeerHealth {
  private readonly until = new Map<string, number>()
  private readonly suspectMs: number
  private readonly now: () => number
  private readonly onFailure: ((node: string, code: string) => void) | undefined

  constructor(init: RecentFailuresInit = {}) {
    this.suspectMs = init.suspectMs ?? SUSPECT_MS
    this.now = init.now ?? Date.now
    this.onFailure = init.onFailure
  }

  failed(node: string, code: string): void {
    // A peer we stopped waiting for (settleAsking) told us nothing: it neither renews nor ends a suspicion.
    if (code === CUT_SHORT) return
    // Any other failure but our own INTERNAL is the peer's answer (a refusal, bad data): it is there.
    if (UNAVAILABLE.has(code)) this.until.set(node, this.now() + this.suspectMs)
    else if (code !== 'INTERNAL') this.until.delete(node)
    this.onFailure?.(node, code)
  }

  answered(node: string): void {
    this.until.delete(node)
  }

  /** The peers suspect now, sorted (for the operator's status). */
  suspects(): string[] {
    return [...this.until.keys()].filter((n) => this.suspect(n)).sort()
  }

  suspect(node: string): boolean {
    const until = this.until.get(node)
    if (until === undefined) return false
    if (this.now() < until) return true
    this.until.delete(node)
    return false
  }
}
