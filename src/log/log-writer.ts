import type { AbstractBatchOptions } from 'abstract-level'
import { InvalidInputError } from '../core/errors.js'
import type { CheckpointSigner } from './checkpoint-signer.js'
import { LogWriteError } from './errors.js'
import { buildEvent, type NormalizedFields, type StorageEvent, ZERO_ID } from './event.js'
import { type LogBatchOperation, type RootDb, seqKey, type TextSublevel } from './log-store.js'

/** Why the log's appends fail: the database's own words (for the operator), and the seq that could not be written. */
export interface LogWriteFailure {
  reason: string
  seq: number
}

export interface LogWriterInit {
  db: RootDb
  events: TextSublevel
  nodeId: string
  signer: CheckpointSigner
  /** The signer's batch size: appends wait while MAX_UNCOVERED_BATCHES of them are unsigned. */
  every: number
  /** Whether a durable append's batch is synced (EventLogOptions.sync). */
  sync: boolean
  /** Told when appends start failing and when one is written again (EventLogOptions.onWriteHealth). */
  onWriteHealth?: ((failure: LogWriteFailure | undefined) => void) | undefined
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
 * Writes an EventLog's entries: one queue, so the hash chain never forks; each entry commits with
 * its append's ops in one atomic batch, and appends that queue up behind a write go out together in
 * the next batch (group commit); if that batch fails, each is retried alone, so only the failing
 * append fails. Holds the chain's head and whether the database refuses its batches.
 */
export class LogWriter {
  private readonly db: RootDb
  private readonly events: TextSublevel
  private readonly nodeId: string
  private readonly signer: CheckpointSigner
  private readonly every: number
  private readonly sync: boolean
  private readonly onWriteHealth: LogWriterInit['onWriteHealth']

  private nextSeq = 0
  private lastEventId = ZERO_ID
  private failure: LogWriteFailure | undefined

  private readonly queue: PendingAppend[] = []
  private writing: Promise<void> | null = null

  constructor(init: LogWriterInit) {
    this.db = init.db
    this.events = init.events
    this.nodeId = init.nodeId
    this.signer = init.signer
    this.every = init.every
    this.sync = init.sync
    this.onWriteHealth = init.onWriteHealth
  }

  /** Takes up where the log on disk stands: the seq after its last entry, and that entry's id. */
  resume(nextSeq: number, lastEventId: string): void {
    this.nextSeq = nextSeq
    this.lastEventId = lastEventId
  }

  /** The seq after the last committed entry. */
  get committedEnd(): number {
    return this.nextSeq
  }

  /** The last committed entry's id (ZERO_ID while the log is empty). */
  get lastCommittedId(): string {
    return this.lastEventId
  }

  /** The database's refusal of the last append, while no append has been written since. */
  writeFailure(): LogWriteFailure | undefined {
    return this.failure
  }

  /** Queues one entry and its ops; settles once their batch is written or refused. */
  append(
    fields: NormalizedFields,
    ops: readonly LogBatchOperation[],
    durable: boolean,
  ): Promise<StorageEvent> {
    return new Promise<StorageEvent>((resolve, reject) => {
      this.queue.push({ fields, ops, durable, resolve, reject })
      this.startWriter()
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
}
