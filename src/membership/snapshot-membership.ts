import { toHex } from '../core/bytes.js'
import { InvalidInputError } from '../core/errors.js'
import { NoSnapshotError, SnapshotRejectedError } from './errors.js'
import { chainVerdict, type EpochSnapshot, epochViewOf, verifySnapshot } from './snapshot.js'
import type { EpochView, Membership } from './types.js'

const PUBLIC_KEY_RE = /^[0-9a-f]{3904}$/

/**
 * Membership from a chain of signed snapshots. The first accepted snapshot is the trust anchor (a
 * node may join at any epoch); each later one must be its direct, signed successor. Every accepted
 * epoch stays answerable through `at`, because writes place with the epoch they were written in.
 */
export class SnapshotMembership implements Membership {
  private readonly trustedKeys: readonly string[]
  private readonly views = new Map<number, EpochView>()
  private readonly snapshots = new Map<number, EpochSnapshot>()
  private head: EpochSnapshot | undefined

  constructor(init: { trustedKeys: readonly (string | Uint8Array)[] }) {
    this.trustedKeys = init.trustedKeys.map((k) => {
      const hex = typeof k === 'string' ? k : toHex(k)
      if (!PUBLIC_KEY_RE.test(hex)) {
        throw new InvalidInputError(
          'a trusted key must be an ML-DSA-65 public key (3904 lower-case hex characters)',
        )
      }
      return hex
    })
  }

  /** Verifies and adopts a snapshot; the same snapshot again is a no-op. `SNAPSHOT_REJECTED` otherwise. */
  accept(snapshot: unknown): EpochView {
    const checked = this.check(snapshot)
    const held = this.views.get(checked.epoch)
    if (held !== undefined) return held
    const view = epochViewOf(checked)
    this.snapshots.set(view.epoch, checked)
    this.views.set(view.epoch, view)
    this.head = checked
    return view
  }

  /**
   * What `accept` would adopt, without adopting it: the snapshot verified (structure, hash, a
   * trusted signature) and either held already or the direct successor of the snapshot in force.
   * `SNAPSHOT_REJECTED` otherwise. Callers compare what it changes only after this, so a forged
   * file is refused as forged, never as a change.
   */
  check(snapshot: unknown): EpochSnapshot {
    const verdict = verifySnapshot(snapshot, this.trustedKeys)
    if (!verdict.ok) throw new SnapshotRejectedError(verdict.code, verdict.detail)
    const held = this.snapshots.get(verdict.snapshot.epoch)
    if (held !== undefined) {
      // Same epoch, another hash: a fork of the chain, never silently replaced.
      if (held.snapshot_hash !== verdict.snapshot.snapshot_hash) {
        throw new SnapshotRejectedError(
          'BROKEN_CHAIN',
          `epoch ${held.epoch} is already held with another snapshot_hash`,
        )
      }
      return held
    }
    if (this.head === undefined) return verdict.snapshot
    const chained = chainVerdict(verdict.snapshot, this.head)
    if (!chained.ok) throw new SnapshotRejectedError(chained.code, chained.detail)
    return chained.snapshot
  }

  /**
   * Adds the epoch just before the earliest one held, for looking up only (`at`, `snapshotAt`): a
   * restarted node gets back, newest first, the epochs it adopted before, whose records it still
   * holds. Verified like any snapshot (structure, hash, a trusted signature), and it must be the one
   * the next epoch held names as its previous: only the chain that leads to the snapshot in force
   * comes back, never a fork or a chain from before a gap. It never becomes the snapshot in force.
   * The same snapshot again is a no-op; anything else is `SNAPSHOT_REJECTED` (`BROKEN_CHAIN`).
   */
  remember(snapshot: unknown): EpochView {
    const verdict = verifySnapshot(snapshot, this.trustedKeys)
    if (!verdict.ok) throw new SnapshotRejectedError(verdict.code, verdict.detail)
    const s = verdict.snapshot
    const held = this.snapshots.get(s.epoch)
    if (held !== undefined) {
      if (held.snapshot_hash !== s.snapshot_hash) {
        throw new SnapshotRejectedError(
          'BROKEN_CHAIN',
          `epoch ${s.epoch} is already held with another snapshot_hash`,
        )
      }
      return this.views.get(s.epoch)!
    }
    if (this.head === undefined || s.epoch >= this.head.epoch) {
      throw new SnapshotRejectedError('BROKEN_CHAIN', `epoch ${s.epoch} is not before the epoch in force`)
    }
    const next = this.snapshots.get(s.epoch + 1)
    if (next === undefined) {
      throw new SnapshotRejectedError(
        'BROKEN_CHAIN',
        `epoch ${s.epoch + 1} is not held: nothing links epoch ${s.epoch} to the chain in force`,
      )
    }
    const linked = chainVerdict(next, s)
    if (!linked.ok) {
      throw new SnapshotRejectedError(
        'BROKEN_CHAIN',
        `epoch ${s.epoch + 1} does not follow this snapshot: ${linked.detail}`,
      )
    }
    const view = epochViewOf(s)
    this.snapshots.set(s.epoch, s)
    this.views.set(s.epoch, view)
    return view
  }

  /** The snapshot in force; `NO_SNAPSHOT` before the first one is accepted. */
  current(): EpochView {
    if (this.head === undefined) throw new NoSnapshotError('no epoch snapshot has been accepted')
    return this.views.get(this.head.epoch)!
  }

  at(epoch: number): EpochView | undefined {
    return this.views.get(epoch)
  }

  get latest(): EpochSnapshot | undefined {
    return this.head
  }

  snapshotAt(epoch: number): EpochSnapshot | undefined {
    return this.snapshots.get(epoch)
  }

  /** True when `nodeId` is eligible in the snapshot in force (false without one). */
  isEligible(nodeId: string): boolean {
    return this.head !== undefined && this.views.get(this.head.epoch)!.eligible.has(nodeId)
  }
}
