import { parseId } from '../core/bytes.js'
import { InvalidInputError } from '../core/errors.js'
import { validateVersion } from '../core/ids.js'
import { normalizeMetadata } from '../core/metadata.js'
import type { VersionKind } from '../core/record.js'
import type { EventFields } from '../log/index.js'
import type { PutOptions } from './api.js'
import { unlessCallerLeft } from './context.js'
import type { EngineCalls } from './engine-calls.js'
import { checkMetadataLimits } from './metadata-limits.js'
import { replicaSets } from './node-service.js'
import { failure, type StoreResponse } from './responses.js'
import { type ContentSource, contentSource, type WriteArgs, writeVersion } from './write.js'

/**
 * The public write of one version (putContent, deleteContent): checked, written through stage,
 * decide and commit (write.ts), logged durably and answered in the QFS shape; a failure is logged
 * and answered, never thrown.
 */
export async function writeCall(
  calls: EngineCalls,
  limits: Pick<WriteArgs, 'writeQuorum' | 'preopenBytes'>,
  objectId: string,
  version: number,
  content: Uint8Array | ContentSource,
  metadata: unknown,
  marker: 'DELETE_MARKER' | undefined,
  options: PutOptions,
): Promise<StoreResponse> {
  const fields: Partial<EventFields> = { event_type: marker ?? 'STORE' }
  try {
    parseId(objectId, 'object_id')
    fields.object_id = objectId
    const v = validateVersion(version)
    fields.version = v
    const kind: VersionKind = marker ?? (v === 1 ? 'STORE' : 'UPDATE')
    fields.event_type = kind
    const meta = normalizeMetadata(metadata)
    checkMetadataLimits(meta)
    const source = contentSource(content)
    if (source === undefined) throw new InvalidInputError('content must be bytes or {size, chunks}')
    const view = calls.view(options.epoch)
    const tick = calls.tick(options.timestampTick ?? meta.created_at_tick)
    Object.assign(fields, { epoch: view.epoch, timestamp_tick: tick, content_size: source.size })
    const { record, underReplicated, laggingHomes } = await unlessCallerLeft(
      writeVersion(calls.ctx, {
        objectId,
        version: v,
        kind,
        content: source,
        metadata: meta,
        view,
        tick,
        writeQuorum: limits.writeQuorum,
        preopenBytes: limits.preopenBytes,
        signal: options.signal,
        onProgress: options.onProgress,
      }),
      options.signal,
    )
    // Every home took it: a read through this node need not ask them (decided-records.ts).
    if (laggingHomes.length === 0) calls.decided.remember(view.epoch, record)
    const event = await calls.record(
      {
        ...fields,
        hash_commit: record.hash_commit,
        shard_ids: record.shards.map((s) => s.shard_id),
        replica_sets: replicaSets(record),
        atr_cost: record.atr_cost,
        details: {
          metadata: meta,
          catalogue_homes: record.catalogue_homes,
          under_replicated: underReplicated,
          lagging_homes: laggingHomes,
        },
      },
      true,
    )
    return {
      ok: true,
      object_id: objectId,
      version: v,
      kind,
      hash_commit: record.hash_commit,
      content_size: record.content_size,
      shard_ids: record.shards.map((s) => s.shard_id),
      replica_sets: replicaSets(record),
      atr_cost: record.atr_cost,
      under_replicated: underReplicated,
      storage_event_id: event,
    }
  } catch (err) {
    return failure(err, await calls.recordFailure(fields, err))
  }
}
