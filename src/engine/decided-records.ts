import type { VersionRecord } from '../core/record.js'

/** Records a node keeps by default: each is at most about 6 KiB in memory (32 tags, four shard descriptors), so 6 MiB at worst on a heap sized for 128 MiB. */
export const DECIDED_RECORDS_KEPT = 1024

/**
 * Records this node resolved from a majority of an object's homes, kept so a read of the same
 * version need not ask the homes again. A decided record never changes: homes accept one record per
 * version and a majority of them holds it for good (docs/consistency.md), so serving it again cannot
 * make a second content readable. Kept per epoch, so a new epoch (whose homes or placements may
 * differ once membership changes) starts from the homes again; least recently used first out.
 */
export class DecidedRecords {
  private readonly kept = new Map<string, VersionRecord>()
  private readonly capacity: number

  constructor(capacity = DECIDED_RECORDS_KEPT) {
    if (!Number.isSafeInteger(capacity) || capacity < 0) throw new TypeError('capacity must be a count')
    this.capacity = capacity
  }

  get size(): number {
    return this.kept.size
  }

  /** The decided record of `objectId` at `version` in `epoch`, if this node resolved it lately. */
  get(epoch: number, objectId: string, version: number): VersionRecord | undefined {
    const key = keyOf(epoch, objectId, version)
    const record = this.kept.get(key)
    if (record === undefined) return undefined
    this.kept.delete(key)
    this.kept.set(key, record)
    return record
  }

  /** `record` was just resolved from a majority of its homes in `epoch`. */
  remember(epoch: number, record: VersionRecord): void {
    if (this.capacity === 0) return
    const key = keyOf(epoch, record.object_id, record.version)
    this.kept.delete(key)
    this.kept.set(key, record)
    while (this.kept.size > this.capacity) this.kept.delete(this.kept.keys().next().value!)
  }
}

function keyOf(epoch: number, objectId: string, version: number): string {
  return `${epoch}/${objectId}/${version}`
}
