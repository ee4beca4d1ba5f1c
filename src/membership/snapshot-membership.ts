import { toHex } from '../core/bytes.js'
import { InvalidInputError } from '../core/errors.js'
import { NoSnapshotError, SnapshotRejectedError } from './errors.js'
import { type EpochSnapshot, epochViewOf, verifySnapshot } from './snapshot.js'
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
    const held = this.heldCopy(snapshot)
    if (held !== undefined) return held
    const verdict = verifySnapshot(snapshot, this.trustedKeys, this.head)
    if (!verdict.ok) throw new SnapshotRejectedError(verdict.code, verdict.detail)
    const view = epochViewOf(verdict.snapshot)
    this.snapshots.set(view.epoch, verdict.snapshot)
    this.views.set(view.epoch, view)
    this.head = verdict.snapshot
    return view
  }

  private heldCopy(snapshot: unknown): EpochView | undefined {
    if (snapshot === null || typeof snapshot !== 'object') return undefined
    const { epoch, snapshot_hash: hash } = snapshot as Record<string, unknown>
    if (typeof epoch !== 'number') return undefined
    const held = this.snapshots.get(epoch)
    if (held === undefined) return undefined
    // Same epoch, another hash: a fork of the chain, never silently replaced.
    if (held.snapshot_hash !== hash) {
      throw new SnapshotRejectedError(
        'BROKEN_CHAIN',
        `epoch ${epoch} is already held with another snapshot_hash`,
      )
    }
    const verdict = verifySnapshot(snapshot, this.trustedKeys)
    if (!verdict.ok) throw new SnapshotRejectedError(verdict.code, verdict.detail)
    return this.views.get(epoch)
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
