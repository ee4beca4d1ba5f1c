import { statfs } from 'node:fs/promises'
import { InvalidInputError } from '../core/errors.js'
import { StorageFullError } from './errors.js'

/**
 * Room for new shard data. The store asks before it stages anything, so a node that is short of
 * space refuses a write up front (`STORAGE_FULL`) instead of failing inside LevelDB, where a full
 * disk also fails the audit-log entries that reads, commits and checkpoints must write.
 *
 * `admit` runs under the store's write lock, so two stages never count the same free bytes.
 */
export interface SpaceGuard {
  /**
   * Takes room on disk and against the quota for `bytes` more shard data, the node already holding
   * `heldBytes` (committed, staged, and what open streams took), or throws StorageFullError. Reads
   * the free space again when the reading is stale and before any refusal. The bytes count as not
   * yet on disk until `landed`.
   */
  admit(bytes: number, heldBytes: number): Promise<void>
  /** Admitted bytes are now on disk, or will never be (a batch written or failed, a stream ended). */
  landed(bytes: number): void
  status(heldBytes: number): Promise<SpaceStatus>
}

/**
 * What a streamed shard takes on disk and against the quota ahead of its bytes: its first this-many
 * at its header, and each further this-many as they arrive (ShardWriter). Taking the whole declared
 * length at the header let a client announce writes of 64 GiB and send almost nothing: in an
 * adversarial session 12 such writes from three addresses held 64 of 64.5 GB free on 4 nodes while
 * they lasted. A stream whose later bytes find no room then fails with STORAGE_FULL and its staged
 * blocks are removed.
 */
export const STREAM_ADMIT_BYTES = 4 * 1024 * 1024

export interface SpaceStatus {
  /** Free bytes on the database's filesystem at the last reading, minus what was admitted since. */
  free_bytes: number
  reserve_bytes: number
  /** The operator's quota for shard data, or null for none. */
  capacity_bytes: number | null
  /** Whether a 1-byte shard would be admitted now. */
  accepting_writes: boolean
}

export interface DiskSpaceInit {
  /** Free bytes available to this process on the database's filesystem. */
  freeBytes: () => Promise<number>
  /** Bytes always left free, for the log, checkpoints and LevelDB compactions. */
  reserveBytes: number
  /** Most shard bytes this node holds (committed plus staged); null for no quota. */
  capacityBytes?: number | null
  /** How long a reading stays fresh. Default 1 s. */
  maxAgeMs?: number
  /** Local wall clock, for the reading's age only; injectable for tests. */
  now?: () => number
}

function nonNegative(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new InvalidInputError(`${name} must be a non-negative integer`)
  return value
}

/**
 * Free space from the filesystem, kept conservative between readings: every byte admitted since the
 * last reading counts as used, and so does every admitted byte not yet on disk (a stream lands its
 * room block by block as the database takes its blocks; a batch, once written). The quota needs no
 * reading: the store's counters give what it holds.
 */
export class DiskSpaceGuard implements SpaceGuard {
  private readonly freeBytes: () => Promise<number>
  private readonly reserve: number
  private readonly capacity: number | null
  private readonly maxAgeMs: number
  private readonly now: () => number
  private lastFree = 0
  private readAt: number | undefined
  /** Bytes admitted since the last reading. */
  private charged = 0
  /** Bytes admitted and not yet landed. */
  private unlanded = 0
  /** Bytes landed so far (to see what landed while a reading was taken). */
  private landedTotal = 0
  private reading: Promise<void> | undefined

  constructor(init: DiskSpaceInit) {
    this.freeBytes = init.freeBytes
    this.reserve = nonNegative(init.reserveBytes, 'reserveBytes')
    this.capacity = init.capacityBytes == null ? null : nonNegative(init.capacityBytes, 'capacityBytes')
    this.maxAgeMs = nonNegative(init.maxAgeMs ?? 1000, 'maxAgeMs')
    this.now = init.now ?? Date.now
  }

  async admit(bytes: number, heldBytes: number): Promise<void> {
    nonNegative(bytes, 'bytes')
    if (this.capacity !== null && heldBytes + bytes > this.capacity) {
      throw new StorageFullError(
        `capacity reached: ${heldBytes} of ${this.capacity} bytes held; ${bytes} more refused`,
      )
    }
    let fresh = false
    if (this.stale()) {
      await this.read()
      fresh = true
    }
    if (!this.fits(bytes) && !fresh) await this.read()
    if (!this.fits(bytes)) {
      throw new StorageFullError(
        `disk nearly full: ${this.available()} bytes free, ${this.reserve} kept in reserve; ${bytes} more refused`,
      )
    }
    this.charged += bytes
    this.unlanded += bytes
  }

  landed(bytes: number): void {
    this.unlanded = Math.max(0, this.unlanded - bytes)
    this.landedTotal += bytes
  }

  async status(heldBytes: number): Promise<SpaceStatus> {
    // As for a 1-byte stage: a stale view, or one that would refuse it, is read again first.
    if (this.stale() || !this.fits(1)) await this.read()
    const roomy = this.capacity === null || heldBytes + 1 <= this.capacity
    return {
      free_bytes: this.available(),
      reserve_bytes: this.reserve,
      capacity_bytes: this.capacity,
      accepting_writes: roomy && this.fits(1),
    }
  }

  private stale(): boolean {
    return this.readAt === undefined || this.now() - this.readAt >= this.maxAgeMs
  }

  private available(): number {
    return Math.max(0, this.lastFree - this.charged)
  }

  private fits(bytes: number): boolean {
    return this.readAt !== undefined && this.available() - bytes >= this.reserve
  }

  /** Concurrent callers share one reading. */
  private read(): Promise<void> {
    this.reading ??= (async () => {
      const landedBefore = this.landedTotal
      try {
        const free = nonNegative(await this.freeBytes(), 'free bytes')
        this.lastFree = free
        this.readAt = this.now()
        // What is admitted but not on disk is not in the reading; what landed while it was taken may not be.
        this.charged = this.unlanded + (this.landedTotal - landedBefore)
      } finally {
        this.reading = undefined
      }
    })()
    return this.reading
  }
}

/** Free bytes an unprivileged writer may use on the filesystem holding `dir`. */
export function filesystemFreeBytes(dir: string): () => Promise<number> {
  return async () => {
    const fs = await statfs(dir)
    return Math.min(Number.MAX_SAFE_INTEGER, fs.bavail * fs.bsize)
  }
}

/**
 * A database write that failed because the disk is full (LevelDB reports ENOSPC as an IO error
 * whose message carries the OS text) becomes STORAGE_FULL, so the coordinator learns the reason
 * instead of an internal error. It happens when something outside the node eats the reserve.
 */
export function storageFullFrom(err: unknown): unknown {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if ((e as { code?: unknown }).code === 'ENOSPC' || e.message.includes('No space left on device')) {
      return new StorageFullError('the disk is full', { cause: err })
    }
  }
  return err
}
