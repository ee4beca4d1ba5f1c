import { InvalidInputError } from '../core/errors.js'
import { type Coverage, publicKeyHash, type SignedCheckpoint } from './checkpoint.js'
import { CheckpointSigner, type CoverageHead, recordHead } from './checkpoint-signer.js'
import { LogCorruptError, LogIdentityMismatchError, LogNotOpenError, LogRolledBackError } from './errors.js'
import {
  computeEventId,
  type EventFields,
  normalizeEventFields,
  type StorageEvent,
  validateNodeId,
  ZERO_ID,
} from './event.js'
import type { LogHeadRecord, RecordedHead } from './head-record.js'
import type { AuditKey } from './keys.js'
import {
  type LogBatchOperation,
  lastCheckpoint,
  openLogSublevels,
  parseStoredCheckpoint,
  parseStoredEvent,
  type RootDb,
  rawValues,
  readCheckpoints,
  readCoverage,
  readEvent,
  readEvents,
  readExport,
  seqKey,
  type TextSublevel,
} from './log-store.js'
import { type LogWriteFailure, LogWriter } from './log-writer.js'
import { type LogVerification, verifyLog } from './verify.js'

export type { LogWriteFailure } from './log-writer.js'

export interface EventLogComponents {
  db: RootDb
  nodeId: string
  key: AuditKey
  /**
   * Where the last signed checkpoint is recorded outside the database (`D/log-head.json` for a
   * node's data directory): opening refuses a log cut below it, and each checkpoint run updates it.
   */
  headRecord?: LogHeadRecord
}

export interface EventLogOptions {
  /** Sign a checkpoint once this many entries are uncovered; also the largest batch. Default 256. */
  checkpointEvery?: number
  /**
   * Sign whatever is uncovered this long after the last append. Default 1 s: a signature costs ~8 ms
   * of CPU, so under a trickle of small writes a shorter delay signs nearly every entry alone.
   */
  checkpointDelayMs?: number
  /**
   * Whether an append marked `durable` reaches the disk (fsync) before it resolves. Default true:
   * such appends carry what an acknowledgement promises (a holder's commit, a home's record, a
   * coordinator's write entry), and LevelDB alone leaves a batch in the page cache, where a power loss
   * or kernel crash takes it. Off, they survive a process crash only (a test, a disposable network).
   */
  sync?: boolean
  /**
   * Told when appends start failing (the database refused a batch: a full disk, a file size limit,
   * LevelDB's sticky background error) and when one is written again; not for each failure.
   */
  onWriteHealth?: (failure: LogWriteFailure | undefined) => void
}

/** What one append asks of the disk. */
export interface AppendOptions {
  /** The entry and its ops are on disk when the append resolves (when the log syncs at all). */
  durable?: boolean
}

export interface LogHead {
  entries: number
  last_event_id: string
  covered_entries: number
  checkpoints: number
  last_checkpoint_id: string
}

/**
 * A node's EQM audit log in its LevelDB. Appends are serialized through one queue, so the hash chain
 * never forks; each append's entry and the caller's ops commit in one atomic batch. Appends that
 * queue up behind a write go out together in the next batch (group commit); if that batch fails,
 * each is retried alone, so only the failing append fails. Checkpoints are signed off the append
 * path, after `checkpointEvery` uncovered entries or `checkpointDelayMs` of quiet. One EventLog
 * writes a database at a time (the node's single writer).
 */
export class EventLog {
  readonly nodeId: string
  private readonly key: AuditKey
  private readonly keyHash: string
  private readonly events: TextSublevel
  private readonly ckpts: TextSublevel
  private state: 'new' | 'open' | 'closing' | 'closed' = 'new'

  private readonly signer: CheckpointSigner
  private readonly writer: LogWriter
  private readonly headRecord: LogHeadRecord | undefined

  private opening: Promise<void> | null = null
  private closing: Promise<void> | null = null
  private lastAppend: Promise<void> = Promise.resolve()

  constructor(components: EventLogComponents, options: EventLogOptions = {}) {
    this.nodeId = validateNodeId(components.nodeId)
    this.key = components.key
    if (!(this.key?.publicKey instanceof Uint8Array) || !(this.key.secretKey instanceof Uint8Array)) {
      throw new InvalidInputError('key must be an ML-DSA-65 AuditKey')
    }
    this.keyHash = publicKeyHash(this.key.publicKey)
    const every = options.checkpointEvery ?? 256
    const delayMs = options.checkpointDelayMs ?? 1000
    if (!Number.isSafeInteger(every) || every < 1) throw new InvalidInputError('checkpointEvery must be >= 1')
    if (!Number.isSafeInteger(delayMs) || delayMs < 1 || delayMs > 0x7fffffff) {
      throw new InvalidInputError('checkpointDelayMs must be an integer in 1..2^31-1')
    }
    const { events, ckpts } = openLogSublevels(components.db)
    this.events = events
    this.ckpts = ckpts
    this.headRecord = components.headRecord
    this.signer = new CheckpointSigner({
      ckpts,
      nodeId: this.nodeId,
      key: this.key,
      every,
      delayMs,
      committedEnd: () => this.writer.committedEnd,
      headRecord: this.headRecord,
      sync: options.sync ?? true,
    })
    this.writer = new LogWriter({
      db: components.db,
      events,
      nodeId: this.nodeId,
      signer: this.signer,
      every,
      sync: options.sync ?? true,
      onWriteHealth: options.onWriteHealth,
    })
  }

  get publicKey(): Uint8Array {
    return this.key.publicKey
  }

  /** Loads the head and signs a checkpoint over any tail a crash left uncovered. */
  async open(): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') {
      throw new LogNotOpenError('a closed EventLog cannot be reopened; create a new one')
    }
    this.opening ??= this.load()
    return this.opening
  }

  private async load(): Promise<void> {
    const cp = await lastCheckpoint(this.ckpts)
    const covered: CoverageHead = { coveredEnd: 0, checkpoints: 0, lastCheckpointId: ZERO_ID }
    let lastEventId = ZERO_ID
    if (cp !== undefined) {
      if (cp.node_id !== this.nodeId) throw new LogIdentityMismatchError(`log belongs to node ${cp.node_id}`)
      if (cp.public_key_hash !== this.keyHash) {
        throw new LogIdentityMismatchError('log checkpoints were signed with another audit key')
      }
      const head = await this.get(cp.last_seq)
      if (head?.event_id !== cp.head_event_id)
        throw new LogCorruptError(`checkpoint ${cp.checkpoint_seq} head is missing`)
      covered.coveredEnd = cp.last_seq + 1
      covered.checkpoints = cp.checkpoint_seq + 1
      covered.lastCheckpointId = cp.checkpoint_id
      lastEventId = cp.head_event_id
    }
    const recorded = await this.refuseRolledBack(cp)
    // The uncovered tail is about to be signed, so check it links and hashes before vouching for it.
    const uncovered: string[] = []
    let seq = covered.coveredEnd
    for await (const [key, value] of this.events.iterator({ gte: seqKey(seq) })) {
      const e = parseStoredEvent(key, value)
      if (e.seq !== seq) throw new LogCorruptError(`entry ${seq} missing`)
      if (e.node_id !== this.nodeId) throw new LogIdentityMismatchError(`log belongs to node ${e.node_id}`)
      if (e.prev_event_id !== lastEventId || computeEventId(e) !== e.event_id) {
        throw new LogCorruptError(`uncovered entry ${seq} does not hash or link`)
      }
      uncovered.push(e.event_id)
      lastEventId = e.event_id
      seq++
    }
    this.signer.resume(covered, uncovered)
    this.writer.resume(seq, lastEventId)
    this.state = 'open'
    await this.flush()
    // A log with nothing left to sign (a node from before the record, one that lost its record) still
    // gets its head recorded now rather than at its next checkpoint; one that signed was recorded.
    const signed = this.signer.coverage.checkpoints !== covered.checkpoints
    if (
      this.headRecord !== undefined &&
      !signed &&
      cp !== undefined &&
      recorded?.checkpoint_id !== cp.checkpoint_id
    ) {
      await recordHead(this.headRecord, {
        checkpoint_seq: cp.checkpoint_seq,
        last_seq: cp.last_seq,
        checkpoint_id: cp.checkpoint_id,
      })
    }
  }

  /**
   * Refuses a log that no longer holds the checkpoint its node recorded signing last: the database
   * lost its tail (a truncated write-ahead log, an older copy put back), and opening would sign a new
   * chain over what is left, so the loss would go unnoticed.
   */
  private async refuseRolledBack(last: SignedCheckpoint | undefined): Promise<RecordedHead | undefined> {
    const recorded = await this.headRecord?.read()
    if (recorded === undefined) return undefined
    let held: SignedCheckpoint | undefined
    if (last !== undefined && last.checkpoint_seq >= recorded.checkpoint_seq) {
      const value = await this.ckpts.get(seqKey(recorded.last_seq))
      held = value === undefined ? undefined : parseStoredCheckpoint(value)
    }
    if (held?.checkpoint_id === recorded.checkpoint_id) return recorded
    const now =
      last === undefined
        ? 'holds no checkpoint'
        : `ends at checkpoint ${last.checkpoint_seq} (entry ${last.last_seq})${held === undefined ? '' : ' on another chain'}`
    throw new LogRolledBackError(
      `the audit log ${now}, but this node signed checkpoint ${recorded.checkpoint_seq} (entry ${recorded.last_seq}, ${recorded.checkpoint_id}) as ${this.headRecord!.where} records: the database lost its tail (a truncated or replaced write-ahead log, an older copy of the database put back). Restore the data directory from a backup taken after that checkpoint; or, to serve with what is left, remove ${this.headRecord!.where} (what was lost stays lost on this node; its peers hold replicas)`,
    )
  }

  /**
   * Appends one entry, committed in one atomic batch with `extraOps` (ops on other sublevels of the
   * same root). Resolves once written (and synced, if `durable`); a failed batch rejects and leaves
   * the head where it was.
   */
  async append(
    fields: EventFields,
    extraOps: readonly LogBatchOperation[] = [],
    options: AppendOptions = {},
  ): Promise<StorageEvent> {
    if (this.state !== 'open') throw new LogNotOpenError('append on a log that is not open')
    const normalized = normalizeEventFields(fields)
    const ops = this.checkOps(extraOps)
    const appended = this.writer.append(normalized, ops, options.durable === true)
    this.lastAppend = appended.then(noop, noop)
    return appended
  }

  /** Signs checkpoints over every committed entry; rethrows a failure of a background checkpoint. */
  async flush(): Promise<void> {
    // Appends settle in queue order, so the last one queued before this call marks all of them; later
    // appends are not waited for, so a flush under sustained load still returns.
    await this.lastAppend
    await this.signer.run(true)
    const err = this.signer.takeError()
    if (err !== null) throw err
  }

  /** Flushes and stops the timer; the database stays open (its owner closes it). */
  async close(): Promise<void> {
    if (this.state === 'closed') return
    if (this.closing === null) {
      const wasOpen = this.state === 'open'
      this.state = 'closing'
      this.closing = (wasOpen ? this.flush() : Promise.resolve()).finally(() => {
        this.signer.stop()
        this.state = 'closed'
      })
    }
    return this.closing
  }

  head(): LogHead {
    const { coveredEnd, checkpoints, lastCheckpointId } = this.signer.coverage
    return {
      entries: this.writer.committedEnd,
      last_event_id: this.writer.lastCommittedId,
      covered_entries: coveredEnd,
      checkpoints,
      last_checkpoint_id: lastCheckpointId,
    }
  }

  async get(seq: number): Promise<StorageEvent | undefined> {
    return readEvent(this.events, seq)
  }

  /** Entries from `from` through `to`, both inclusive. */
  iterate(opts: { from?: number; to?: number } = {}): AsyncGenerator<StorageEvent> {
    return readEvents(this.events, opts)
  }

  checkpoints(): AsyncGenerator<SignedCheckpoint> {
    return readCheckpoints(this.ckpts)
  }

  /** The checkpoint covering entry `seq`, its leaf index and audit path; undefined while uncovered. */
  coverage(seq: number): Promise<Coverage | undefined> {
    return readCoverage(this.events, this.ckpts, seq)
  }

  /** Every entry, covered ones with `pqc_signature` naming their checkpoint leaf (the uncovered tail has null). */
  exportEvents(): AsyncGenerator<StorageEvent> {
    return readExport(this.events, this.ckpts)
  }

  /** Flushes, then verifies every entry committed so far (a fixed prefix, so concurrent appends do not race it). */
  async verify(): Promise<LogVerification> {
    if (this.state === 'new') throw new LogNotOpenError('verify on a log that was never opened')
    if (this.state === 'open') await this.flush()
    const bound = this.signer.coverage.coveredEnd
    return verifyLog({
      events: rawValues(this.events, bound),
      checkpoints: rawValues(this.ckpts, bound),
      publicKey: this.key.publicKey,
      nodeId: this.nodeId,
    })
  }

  /**
   * The database's refusal of the last append, while no append has been written since; undefined
   * while appends are written. A node whose log cannot be written can store nothing (every write
   * and read leaves an entry), so its readiness follows this.
   */
  writeFailure(): LogWriteFailure | undefined {
    return this.writer.writeFailure()
  }

  private checkOps(extraOps: unknown): readonly LogBatchOperation[] {
    if (!Array.isArray(extraOps)) throw new InvalidInputError('extraOps must be an array')
    for (const op of extraOps) {
      if (op === null || typeof op !== 'object' || (op.type !== 'put' && op.type !== 'del')) {
        throw new InvalidInputError('each extra op must be a put or del batch operation')
      }
      if (op.sublevel === this.events || op.sublevel === this.ckpts) {
        throw new InvalidInputError('extra ops may not write the log itself')
      }
    }
    return extraOps.slice()
  }
}

function noop(): void {}
