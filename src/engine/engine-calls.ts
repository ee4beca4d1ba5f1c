import { InvalidInputError, storageErrorCode } from '../core/errors.js'
import type { DeterministicTime } from '../core/time.js'
import type { EventFields, EventLog } from '../log/index.js'
import type { EpochView, Membership } from '../membership/types.js'
import type { EngineContext } from './context.js'
import type { DecidedRecords } from './decided-records.js'
import { AegisContextMissingError } from './errors.js'
import { fineCode, safeDetail } from './responses.js'

/**
 * What the StorageEngine's public calls share (engine.ts, engine-write.ts, engine-read.ts): the
 * coordinator's context, the records every home is known to hold, the epoch a call is placed in and
 * the one event every call leaves in the node's log.
 */
export class EngineCalls {
  constructor(
    readonly ctx: EngineContext,
    readonly membership: Membership,
    private readonly log: EventLog,
    private readonly time: DeterministicTime,
    readonly decided: DecidedRecords,
  ) {}

  view(epoch: number | undefined): EpochView {
    const view = epoch === undefined ? this.membership.current() : this.membership.at(epoch)
    if (view === undefined) throw new AegisContextMissingError(`no eligibility snapshot for epoch ${epoch}`)
    this.time.observe(view.startTick)
    return view
  }

  /**
   * A request's tick is the request's own statement, recorded as given; it never moves this node's
   * clock, or one client could pin every later event at the end of time. The node's clock follows
   * the epochs it is told about (`view`).
   */
  tick(requested: number): number {
    if (!Number.isSafeInteger(requested) || requested < 0)
      throw new InvalidInputError('timestamp_tick must be a tick')
    return requested
  }

  /** `durable`: the entry is on disk before the call answers (an acknowledged write and its fee). */
  async record(fields: Partial<EventFields>, durable = false): Promise<string> {
    const event = await this.log.append(
      completeFields(fields, this.time.now(), this.membership.current().epoch),
      [],
      { durable },
    )
    return event.event_id
  }

  /**
   * Failed calls are logged too (every public call emits one event). If that logging fails too, the
   * answer keeps the call's own error and shows the missing event as a null `storage_event_id`.
   */
  async recordFailure(fields: Partial<EventFields>, err: unknown): Promise<string | null> {
    try {
      return await this.record({
        ...fields,
        error_code: storageErrorCode(err),
        error_detail: safeDetail(err),
        details: { ...(fields.details ?? {}), code: fineCode(err) },
      })
    } catch {
      return null
    }
  }
}

function completeFields(fields: Partial<EventFields>, tick: number, epoch: number): EventFields {
  return {
    event_type: fields.event_type ?? 'STORE',
    epoch: fields.epoch ?? epoch,
    timestamp_tick: fields.timestamp_tick ?? tick,
    object_id: fields.object_id ?? null,
    version: fields.version ?? null,
    hash_commit: fields.hash_commit ?? null,
    content_size: fields.content_size ?? null,
    shard_ids: fields.shard_ids ?? [],
    replica_sets: fields.replica_sets ?? {},
    atr_cost: fields.atr_cost ?? null,
    error_code: fields.error_code ?? null,
    error_detail: fields.error_detail ?? null,
    details: fields.details ?? null,
  } as EventFields
}
