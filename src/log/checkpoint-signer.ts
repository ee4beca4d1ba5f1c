import { parseId } from '../core/bytes.js'
import { signCheckpoint } from './checkpoint.js'
import { LogWriteError } from './errors.js'
import { ZERO_ID } from './event.js'
import type { LogHeadRecord, RecordedHead } from './head-record.js'
import type { AuditKey } from './keys.js'
import { seqKey, type TextSublevel } from './log-store.js'

export interface CheckpointSignerInit {
  ckpts: TextSublevel
  nodeId: string
  key: AuditKey
  /** Sign once this many entries are uncovered; also the most one checkpoint covers. */
  every: number
  /** Sign whatever is uncovered this long after the last entry committed. */
  delayMs: number
  /** The seq after the last committed entry: what a run over everything signs up to. */
  committedEnd: () => number
  /** Told of the last checkpoint after each run that signed one, once that checkpoint is written. */
  headRecord?: LogHeadRecord
  /** Whether checkpoints are synced before the head is recorded (EventLogOptions.sync). */
  sync: boolean
}

/** Where signing stands: entries covered, checkpoints signed, the last one's id. */
export interface CoverageHead {
  coveredEnd: number
  checkpoints: number
  lastCheckpointId: string
}

/**
 * Signs an EventLog's checkpoints off the append path: one ML-DSA signature (~8 ms) covers up to
 * `every` entries, signed once that many wait or after `delayMs` of quiet. Runs are chained, so
 * checkpoints link in order; a run's failure waits for the next `takeError`.
 */
export class CheckpointSigner {
  private readonly init: CheckpointSignerInit
  private head: CoverageHead = { coveredEnd: 0, checkpoints: 0, lastCheckpointId: ZERO_ID }
  /** Raw ids of committed entries no checkpoint covers yet, from seq `head.coveredEnd`. */
  private pending: Uint8Array[] = []
  private chain: Promise<void> = Promise.resolve()
  private error: unknown = null
  private countTriggered = false
  private timer: NodeJS.Timeout | null = null

  constructor(init: CheckpointSignerInit) {
    this.init = init
  }

  /** Takes up where the log on disk stands: its last checkpoint and the ids of the tail after it. */
  resume(head: CoverageHead, uncoveredIds: readonly string[]): void {
    this.head = { ...head }
    this.pending = uncoveredIds.map((id) => parseId(id))
  }

  get coverage(): Readonly<CoverageHead> {
    return this.head
  }

  /** Entries committed and not yet covered. */
  get uncovered(): number {
    return this.pending.length
  }

  /** An entry was committed: counts it, and schedules a run once `every` wait or after `delayMs`. */
  committed(eventId: string): void {
    this.pending.push(parseId(eventId))
    if (this.pending.length >= this.init.every && !this.countTriggered) {
      // Off the append path: the signature runs after pending I/O callbacks.
      this.countTriggered = true
      setImmediate(() => {
        this.countTriggered = false
        void this.run(false)
      })
    }
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null
        void this.run(true)
      }, this.init.delayMs)
      this.timer.unref()
    } else {
      this.timer.refresh()
    }
  }

  /**
   * Queues a run after the previous one, over everything committed (`all`) or its full batches;
   * never rejects (a failure waits for `takeError`).
   */
  run(all: boolean): Promise<void> {
    const run = this.chain
      .then(() => this.signPending(all))
      .catch((err: unknown) => {
        this.error ??= err
      })
    this.chain = run
    return run
  }

  /** The failure of a run since the last call, cleared. */
  takeError(): unknown {
    const err = this.error
    this.error = null
    return err
  }

  /** Stops the quiet timer; runs under way finish. */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  private async signPending(all: boolean): Promise<void> {
    // A run signs what was committed when it started (all of it, or its full batches): appends keep
    // arriving during the awaits, and chasing them would sign one small checkpoint per write group.
    // Either way a run is finite, so a flush queued behind it returns under sustained load.
    const { every } = this.init
    const full = this.pending.length - (this.pending.length % every)
    const target = all ? this.init.committedEnd() : this.head.coveredEnd + full
    const { headRecord } = this.init
    let last: RecordedHead | undefined
    while (this.head.coveredEnd < target) {
      const ids = this.pending.slice(0, Math.min(every, target - this.head.coveredEnd))
      const cp = signCheckpoint(
        {
          node_id: this.init.nodeId,
          checkpoint_seq: this.head.checkpoints,
          first_seq: this.head.coveredEnd,
          prev_checkpoint_id: this.head.lastCheckpointId,
        },
        ids,
        this.init.key,
      )
      try {
        // With a head to record, the checkpoint reaches the disk first (and with it every entry it
        // covers, LevelDB's log being sequential): a head recorded ahead of the database would make
        // a power loss look like a lost tail. One sync per run; runs are at most every `delayMs` or
        // `every` entries.
        const syncNow =
          headRecord !== undefined && this.init.sync && this.head.coveredEnd + ids.length >= target
        await this.init.ckpts.put(seqKey(cp.last_seq), JSON.stringify(cp), syncOption(syncNow))
      } catch (err) {
        throw new LogWriteError(`checkpoint ${cp.checkpoint_seq} write failed`, { cause: err })
      }
      this.pending.splice(0, ids.length)
      this.head = {
        coveredEnd: cp.last_seq + 1,
        checkpoints: this.head.checkpoints + 1,
        lastCheckpointId: cp.checkpoint_id,
      }
      last = { checkpoint_seq: cp.checkpoint_seq, last_seq: cp.last_seq, checkpoint_id: cp.checkpoint_id }
    }
    if (headRecord !== undefined && last !== undefined) await recordHead(headRecord, last)
  }
}

/** Records `head`; a failure is the log's write failure (LOG_WRITE_FAILED), naming where. */
export async function recordHead(record: LogHeadRecord, head: RecordedHead): Promise<void> {
  try {
    await record.write(head)
  } catch (err) {
    throw new LogWriteError(`recording checkpoint ${head.checkpoint_seq} in ${record.where} failed`, {
      cause: err,
    })
  }
}

/** `sync` is classic-level's put option (abstract-level has none; memory-level ignores it). */
function syncOption(sync: boolean): object {
  return { sync }
}
