import { NodeBusyError } from './errors.js'

/**
 * Public listings a node coordinates at once (`maxConcurrentListings`); one more is refused at once
 * with NODE_BUSY. A listing holds every node's answer until its page is sent, up to
 * LIST_BYTES_PER_PAGE of records (src/engine/list.ts), so the cap is what bounds a coordinator's
 * memory for listings: in an adversarial session 30 listings at once ran every node out of heap.
 */
export class ListingAdmission {
  private readonly cap: number
  private active = 0

  constructor(cap: number) {
    this.cap = cap
  }

  /** Listings holding a slot now. */
  get activeListings(): number {
    return this.active
  }

  /** Takes a slot, or throws NODE_BUSY; the function returned gives it back (a second call does nothing). */
  admit(): () => void {
    if (this.active >= this.cap) {
      throw new NodeBusyError(
        `this node already coordinates ${this.cap} listings; retry later or list through another node`,
      )
    }
    this.active++
    let held = true
    return () => {
      if (!held) return
      held = false
      this.active--
    }
  }
}
