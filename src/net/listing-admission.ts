import { Admission, type Admitted } from './admission.js'
import { type Limits, perAddressShare } from './protocols.js'
import { type ReadRateLimits, readRule } from './read-admission.js'

export type ListingLimits = Pick<Limits, 'maxConcurrentListings'> & ReadRateLimits

/** One admitted listing: its slot, and the clock of the time its page waits for the client. */
export type AdmittedListing = Admitted

/**
 * Public listings a node coordinates at once (`maxConcurrentListings`); one more is refused at once
 * with NODE_BUSY. A listing holds every node's answer until its page is sent, up to
 * LIST_BYTES_PER_PAGE of records (src/engine/list.ts), so the cap is what bounds a coordinator's
 * memory for listings: in an adversarial session 30 listings at once ran every node out of heap.
 * With so few slots, how long each is held matters as much: the idle timeout bounds each summary's
 * wait only, and a client taking 256 KiB every 25 s held all 4 slots for 100 s on a 1 MB page (8
 * minutes on a 4 MiB one, and again with its next listing). So a page must be taken at the read
 * rule's minimum rate, and slots move from an address that keeps the node waiting to a newcomer
 * from another (docs/protocol.md 4.3, 4.5).
 */
export class ListingAdmission extends Admission {
  /** `now` is a monotonic clock in ms (an observation for a timeout, never protocol data). */
  constructor(limits: ListingLimits, now?: () => number) {
    const cap = limits.maxConcurrentListings
    super(
      readRule(
        limits,
        cap,
        `this node already coordinates ${cap} listings; retry later or list through another node`,
        perAddressShare(cap),
      ),
      now,
    )
  }

  /** Listings holding a slot now. */
  get activeListings(): number {
    return this.admitted
  }
}
