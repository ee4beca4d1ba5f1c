import { canonicalBytes } from '../core/canonical.js'
import type { VersionRecord } from '../core/record.js'

/** Records a node keeps by default. */
export const DECIDED_RECORDS_KEPT = 1024

/**
 * Canonical JSON bytes of the records kept, at most (a record is about twice that in memory). A
 * record can be large (256 fee event ids, 32 tags, many shards): the bound is on bytes, not count.
 */
export const DECIDED_RECORDS_BYTES = 2 * 1024 * 1024

/** A record larger than this is not kept (it would crowd out the rest). */
export const DECIDED_RECORD_MAX_BYTES = 64 * 1024

interface Kept {
  record: VersionRecord
  bytes: number
}

/**
 * Records this node knows every one of an object's homes to hold, kept so a read of the same version
 * need not ask the homes again: resolved from all of them on a read, taken by all of them at a write
 * this node coordinated, or signed by all of them in the acceptances of a commit it took as a holder.
 * A decided record never changes: homes accept one record per version and hold it for good
 * (docs/consistency.md), so serving it again cannot make a second content readable; and since no home
 * lacks it, no read repair is skipped. Kept per epoch, so a new epoch (whose homes or placements may
 * differ once membership changes) starts from the homes again; least recently used first out. Callers
 * get a copy each time, so one caller changing what it got cannot change what the next is served.
 */
export class DecidedRecords {
  private readonly kept = new Map<string, Kept>()
  private readonly capacity: number
  private readonly budget: number
  private bytes = 0

  constructor(capacity = DECIDED_RECORDS_KEPT, budgetBytes = DECIDED_RECORDS_BYTES) {
    if (!Number.isSafeInteger(capacity) || capacity < 0) throw new TypeError('capacity must be a count')
    if (!Number.isSafeInteger(budgetBytes) || budgetBytes < 0) throw new TypeError('budget must be a count')
    this.capacity = capacity
    this.budget = budgetBytes
  }

  get size(): number {
    return this.kept.size
  }

  /** Canonical bytes of the records kept. */
  get keptBytes(): number {
    return this.bytes
  }

  /** The decided record of `objectId` at `version` in `epoch`, if this node resolved it lately. */
  get(epoch: number, objectId: string, version: number): VersionRecord | undefined {
    const key = keyOf(epoch, objectId, version)
    const entry = this.kept.get(key)
    if (entry === undefined) return undefined
    this.kept.delete(key)
    this.kept.set(key, entry)
    return structuredClone(entry.record)
  }

  /** Whether `get` would answer, without copying the record or refreshing its place. */
  has(epoch: number, objectId: string, version: number): boolean {
    return this.kept.has(keyOf(epoch, objectId, version))
  }

  /** Every home of `record`'s object in `epoch` is known to hold it (see the class). */
  remember(epoch: number, record: VersionRecord): void {
    const bytes = canonicalBytes(record).length
    if (this.capacity === 0 || bytes > Math.min(DECIDED_RECORD_MAX_BYTES, this.budget)) return
    const key = keyOf(epoch, record.object_id, record.version)
    this.drop(key)
    this.kept.set(key, { record: structuredClone(record), bytes })
    this.bytes += bytes
    while (this.kept.size > this.capacity || this.bytes > this.budget)
      this.drop(this.kept.keys().next().value!)
  }

  private drop(key: string): void {
    const entry = this.kept.get(key)
    if (entry === undefined) return
    this.kept.delete(key)
    this.bytes -= entry.bytes
  }
}

function keyOf(epoch: number, objectId: string, version: number): string {
  return `${epoch}/${objectId}/${version}`
}
