import type { AbstractBatchOptions } from 'abstract-level'
import { InvalidInputError } from '../core/errors.js'
import { type Coverage, publicKeyHash, type SignedCheckpoint } from './checkpoint.js'
import { CheckpointSigner, type CoverageHead } from './checkpoint-signer.js'
import { LogCorruptError, LogIdentityMismatchError, LogNotOpenError, LogWriteError } from './errors.js'
import {
  buildEvent,
  computeEventId,
  type EventFields,
  type NormalizedFields,
  normalizeEventFields,
  type StorageEvent,
  validateNodeId,
  ZERO_ID,
} from './event.js'
import type { AuditKey } from './keys.js'
import {
  type LogBatchOperation,
  lastCheckpoint,
  openLogSublevels,
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
import { type LogVerification, verifyLog } from './verify.js'

export interface EventLogComponents {
  db: RootDb
  nodeId: string
  key: AuditKey
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

/** Why the log's appends fail: the database's own words (for the operator), and the seq that could not be written. */
export interface LogWriteFailure {
  reason: string
  seq: number
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

interface PendingAppend {
  fields: NormalizedFields
  ops: readonly LogBatchOperation[]
  durable: boolean
  resolve: (event: StorageEvent) => void
  reject: (err: unknown) => void
}

// Appends queued while a batch is being written go out together in the next one.
const MAX_GROUP = 512
const MAX_UNCOVERED_BATCHES = 4

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
  private readonly db: RootDb
  private readonly key: AuditKey
  private readonly keyHash: string
  private readonly every: number
  private readonly sync: boolean
  private readonly onWriteHealth: EventLogOptions['onWriteHealth']
  private readonly events: TextSublevel
  private readonly ckpts: TextSublevel
  private state: 'new' | 'open' | 'closing' | 'closed' = 'new'

  private nextSeq = 0
  private lastEventId = ZERO_ID
  private failure: LogWriteFailure | undefined
  private readonly signer: CheckpointSigner

  private readonly queue: PendingAppend[] = []
  private writing: Promise<void> | null = null
  private opening: Promise<void> | null = null
  private closing: Promise<void> | null = null
  private lastAppend: Promise<void> = Promise.resolve()

  constructor(components: EventLogComponents, options: EventLogOptions = {}) {
    this.db = components.db
    this.nodeId = validateNodeId(components.nodeId)
    this.key = components.key
    if (!(this.key?.publicKey instanceof Uint8Array) || !(this.key.secretKey instanceof Uint8Array)) {
      throw new InvalidInputError('key must be an ML-DSA-65 AuditKey')
    }
    this.keyHash = publicKeyHash(this.key.publicKey)
    this.every = options.checkpointEvery ?? 256
    const delayMs = options.checkpointDelayMs ?? 1000
    this.sync = options.sync ?? true
    this.onWriteHealth = options.onWriteHealth
    if (!Number.isSafeInteger(this.every) || this.every < 1)
      throw new InvalidInputError('checkpointEvery must be >= 1')
    if (!Number.isSafeInteger(delayMs) || delayMs < 1 || delayMs > 0x7fffffff) {
      throw new InvalidInputError('checkpointDelayMs must be an integer in 1..2^31-1')
    }
    const { events, ckpts } = openLogSublevels(this.db)
    this.events = events
    this.ckpts = ckpts
    this.signer = new CheckpointSigner({
      ckpts,
      nodeId: this.nodeId,
      key: this.key,
      every: this.every,
      delayMs,
      committedEnd: () => this.nextSeq,
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
      this.lastEventId = cp.head_event_id
    }
    // The uncovered tail is about to be signed, so check it links and hashes before vouching for it.
    const uncovered: string[] = []
    let seq = covered.coveredEnd
    for await (const [key, value] of this.events.iterator({ gte: seqKey(seq) })) {
      const e = parseStoredEvent(key, value)
      if (e.seq !== seq) throw new LogCorruptError(`entry ${seq} missing`)
      if (e.node_id !== this.nodeId) throw new LogIdentityMismatchError(`log belongs to node ${e.node_id}`)
      if (e.prev_event_id !== this.lastEventId || computeEventId(e) !== e.event_id) {
        throw new LogCorruptError(`uncovered entry ${seq} does not hash or link`)
      }
      uncovered.push(e.event_id)
      this.lastEventId = e.event_id
      seq++
    }
    this.signer.resume(covered, uncovered)
    this.nextSeq = seq
    this.state = 'open'
    await this.flush()
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
    const appended = new Promise<StorageEvent>((resolve, reject) => {
      this.queue.push({ fields: normalized, ops, durable: options.durable === true, resolve, reject })
      this.startWriter()
    })
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
      entries: this.nextSeq,
      last_event_id: this.lastEventId,
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

  private startWriter(): void {
    if (this.writing !== null) return
    // `finally` runs asynchronously, after `writing` is set, and restarts for appends that arrived meanwhile.
    this.writing = this.drain().finally(() => {
      this.writing = null
      if (this.queue.length > 0) this.startWriter()
    })
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      // Backpressure: appends wait while signing lags far behind, which bounds the uncovered tail
      // (memory, and what a crash leaves unsigned) when writes outpace ML-DSA.
      if (this.signer.uncovered >= MAX_UNCOVERED_BATCHES * this.every) await this.signer.run(false)
      await this.commitGroup(this.queue.splice(0, MAX_GROUP))
    }
  }

  private async commitGroup(group: PendingAppend[]): Promise<void> {
    if (group.length === 1) return this.commitOne(group[0]!)
    const built: { item: PendingAppend; event: StorageEvent }[] = []
    const unbuildable: { item: PendingAppend; err: unknown }[] = []
    const ops: LogBatchOperation[] = []
    let seq = this.nextSeq
    let prev = this.lastEventId
    for (const item of group) {
      try {
        const { event, stored } = buildEvent(item.fields, { node_id: this.nodeId, seq, prev_event_id: prev })
        built.push({ item, event })
        ops.push(this.entryOp(seq, stored), ...item.ops)
        seq++
        prev = event.event_id
      } catch (err) {
        unbuildable.push({ item, err })
      }
    }
    try {
      if (built.length === 0) return
      try {
        // One sync covers the group: a durable append pays for it once, whatever queued beside it.
        await this.db.batch(ops, this.batchOptions(built.map((b) => b.item)))
      } catch {
        // One bad append must not fail the appends grouped with it: retry each alone, in order.
        for (const { item } of built) await this.commitOne(item)
        return
      }
      for (const { item, event } of built) {
        this.advance(event)
        item.resolve(event)
      }
    } finally {
      // Settled after the group's commits, so no append settles before one queued ahead of it (flush relies on it).
      for (const { item, err } of unbuildable) item.reject(err)
    }
  }

  /** `sync` is classic-level's (abstract-level has no such option; memory-level ignores it). */
  private batchOptions(
    items: readonly PendingAppend[],
  ): AbstractBatchOptions<unknown, unknown> & { sync: boolean } {
    return { sync: this.sync && items.some((i) => i.durable) }
  }

  private async commitOne(item: PendingAppend): Promise<void> {
    let built: { event: StorageEvent; stored: string }
    try {
      built = buildEvent(item.fields, {
        node_id: this.nodeId,
        seq: this.nextSeq,
        prev_event_id: this.lastEventId,
      })
      await this.db.batch(
        [this.entryOp(built.event.seq, built.stored), ...item.ops],
        this.batchOptions([item]),
      )
    } catch (err) {
      // The database's text (paths, LevelDB messages) stays in `cause`, for the logs only.
      if (err instanceof InvalidInputError) {
        item.reject(err)
        return
      }
      this.failed(err)
      item.reject(new LogWriteError('append failed: the log batch could not be written', { cause: err }))
      return
    }
    this.advance(built.event)
    item.resolve(built.event)
  }

  private entryOp(seq: number, stored: string): LogBatchOperation {
    return { type: 'put', sublevel: this.events, key: seqKey(seq), value: stored }
  }

  /**
   * The database's refusal of the last append, while no append has been written since; undefined
   * while appends are written. A node whose log cannot be written can store nothing (every write
   * and read leaves an entry), so its readiness follows this.
   */
  writeFailure(): LogWriteFailure | undefined {
    return this.failure
  }

  private failed(err: unknown): void {
    if (this.failure !== undefined) return
    let inner: unknown = err
    for (let depth = 0; inner instanceof Error && inner.cause instanceof Error && depth < 4; depth++)
      inner = inner.cause
    const reason = inner instanceof Error ? inner.message.slice(0, 300) : String(inner).slice(0, 300)
    this.failure = { reason, seq: this.nextSeq }
    this.onWriteHealth?.(this.failure)
  }

  private advance(event: StorageEvent): void {
    if (this.failure !== undefined) {
      this.failure = undefined
      this.onWriteHealth?.(undefined)
    }
    this.nextSeq = event.seq + 1
    this.lastEventId = event.event_id
    this.signer.committed(event.event_id)
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
