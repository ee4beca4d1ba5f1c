import { statfs } from 'node:fs/promises'
import { InvalidInputError } from '../core/errors.js'
import { StorageFullError } from './errors.js'

/**
 * Room for new shard data. The store asks before it stages anything, so a node that is short of
 * space refuses a write up front (`STORAGE_FULL`) instead of failing inside LevelDB, where a full
 * disk also fails the audit-log entries that reads, commits and checkpoints must write.
 *
 * `refresh` may do I/O and runs outside the store's write lock; `take` and `give` are synchronous
 * and run under it, so concurrent stagings never both count the same free bytes.
 */
export interface SpaceGuard {
  /** Re-reads the free space if the view is stale, or if it would refuse `bytes` (a refusal is never based on an old reading). */
  refresh(bytes: number): Promise<void>
  /** Takes room for `bytes` of shard data, the store already holding `storedBytes`; throws StorageFullError. */
  take(bytes: number, storedBytes: number, streaming: boolean): void
  /** A streamed stage ended (finished or aborted): its bytes are on disk or gone. */
  give(bytes: number): void
  status(storedBytes: number): SpaceStatus
}

export interface SpaceStatus {
  /** Free bytes on the data directory's filesystem at the last reading, minus what was taken since. */
  free_bytes: number
  reserve_bytes: number
  /** The operator's quota for shard data, or null for none. */
  capacity_bytes: number | null
  /** Whether a 1-byte shard would be admitted now. */
  accepting_writes: boolean
}

export interface DiskSpaceInit {
  /** Free bytes available to this process on the data directory's filesystem. */
  freeBytes: () => Promise<number>
  /** Bytes always left free, for the log, checkpoints and LevelDB compactions. */
  reserveBytes: number
  /** Most shard bytes this node holds (committed plus streams in flight); null for no quota. */
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
 * Free space from the filesystem, kept conservative between readings: every byte taken since the
 * last reading counts as used, and so does the whole declared length of every stream still open
 * (some of it may already be on disk and counted twice: that errs towards refusing early).
 */
export class DiskSpaceGuard implements SpaceGuard {
  private readonly freeBytes: () => Promise<number>
  private readonly reserve: number
  private readonly capacity: number | null
  private readonly maxAgeMs: number
  private readonly now: () => number
  private lastFree = 0
  private readAt: number | undefined
  /** Bytes taken since the last reading. */
  private charged = 0
  /** Declared bytes of streamed stages still open. */
  private streaming = 0
  private reading: Promise<void> | undefined

  constructor(init: DiskSpaceInit) {
    this.freeBytes = init.freeBytes
    this.reserve = nonNegative(init.reserveBytes, 'reserveBytes')
    this.capacity = init.capacityBytes == null ? null : nonNegative(init.capacityBytes, 'capacityBytes')
    this.maxAgeMs = nonNegative(init.maxAgeMs ?? 1000, 'maxAgeMs')
    this.now = init.now ?? Date.now
  }

  async refresh(bytes: number): Promise<void> {
    const stale = this.readAt === undefined || this.now() - this.readAt >= this.maxAgeMs
    if (!stale && this.fits(bytes)) return
    // Concurrent callers share one reading.
    this.reading ??= this.read().finally(() => {
      this.reading = undefined
    })
    await this.reading
  }

  take(bytes: number, storedBytes: number, streaming: boolean): void {
    nonNegative(bytes, 'bytes')
    if (this.capacity !== null && storedBytes + this.streaming + bytes > this.capacity) {
      throw new StorageFullError(
        `capacity reached: ${storedBytes} stored and ${this.streaming} arriving of ${this.capacity} bytes; ${bytes} more refused`,
      )
    }
    if (!this.fits(bytes)) {
      throw new StorageFullError(
        `disk nearly full: ${this.available()} bytes free, ${this.reserve} kept in reserve; ${bytes} more refused`,
      )
    }
    this.charged += bytes
    if (streaming) this.streaming += bytes
  }

  give(bytes: number): void {
    this.streaming = Math.max(0, this.streaming - bytes)
  }

  status(storedBytes: number): SpaceStatus {
    const roomy = this.capacity === null || storedBytes + this.streaming + 1 <= this.capacity
    return {
      free_bytes: this.available(),
      reserve_bytes: this.reserve,
      capacity_bytes: this.capacity,
      accepting_writes: roomy && this.fits(1),
    }
  }

  private available(): number {
    return Math.max(0, this.lastFree - this.charged)
  }

  private fits(bytes: number): boolean {
    return this.readAt !== undefined && this.available() - bytes >= this.reserve
  }

  private async read(): Promise<void> {
    const before = this.charged
    const free = nonNegative(await this.freeBytes(), 'free bytes')
    this.lastFree = free
    this.readAt = this.now()
    // Open streams may still write all they declared, and what was taken during the reading may not
    // be in it: both stay charged.
    this.charged = this.streaming + (this.charged - before)
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
