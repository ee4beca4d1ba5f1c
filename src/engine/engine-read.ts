import { parseId } from '../core/bytes.js'
import { challengeIndex, challengeSeed } from '../core/challenge.js'
import { InvalidInputError } from '../core/errors.js'
import { validateVersion } from '../core/ids.js'
import type { EventFields } from '../log/index.js'
import type { CallOptions, OpenedRead, ReadContentOptions } from './api.js'
import { resolveRecord } from './catalogue.js'
import { unlessCallerLeft } from './context.js'
import type { EngineCalls } from './engine-calls.js'
import { ObjectNotFoundError } from './errors.js'
import { replicaSets } from './node-service.js'
import { FirstBlockPrefetch } from './prefetch.js'
import { proveShard, readVersion } from './read.js'
import { type EngineFailure, failure, type ProofResponse, type ShardReadInfo } from './responses.js'

/** StorageEngine.readContent: the record resolved and the READ event logged before the content is handed over. */
export async function readContentCall(
  calls: EngineCalls,
  objectId: string,
  version: number | undefined,
  options: ReadContentOptions,
): Promise<OpenedRead | EngineFailure> {
  const fields: Partial<EventFields> = { event_type: 'READ' }
  let prefetch: FirstBlockPrefetch | undefined
  try {
    parseId(objectId, 'object_id')
    fields.object_id = objectId
    if (version !== undefined) fields.version = validateVersion(version)
    prefetch =
      version === undefined ? undefined : prefetchFirstBlocks(calls, objectId, version, options.signal)
    const record = await lookupRecord(calls, objectId, version ?? 'latest', options)
    if (version === undefined && record.kind === 'DELETE_MARKER') {
      throw new ObjectNotFoundError(`object ${objectId} was deleted at version ${record.version}`)
    }
    const proofs: ShardReadInfo[] = []
    const event = await calls.record({
      ...fields,
      version: record.version,
      hash_commit: record.hash_commit,
      content_size: record.content_size,
      shard_ids: record.shards.map((s) => s.shard_id),
      replica_sets: replicaSets(record),
    })
    return {
      ok: true,
      object_id: objectId,
      version: record.version,
      kind: record.kind,
      hash_commit: record.hash_commit,
      content_size: record.content_size,
      metadata: record.metadata,
      storage_event_id: event,
      record,
      content: readVersion(
        calls.ctx,
        record,
        proofs,
        options.signal,
        options.checkCommit !== false,
        prefetch,
      ),
      proofs,
    }
  } catch (err) {
    prefetch?.cancel()
    return failure(err, await calls.recordFailure(fields, err))
  }
}

export async function getStorageProofCall(
  calls: EngineCalls,
  objectId: string,
  version: number,
  shardId: string,
  options: CallOptions & { leafIndex?: number },
): Promise<ProofResponse> {
  const fields: Partial<EventFields> = { event_type: 'GET_PROOF' }
  try {
    parseId(objectId, 'object_id')
    fields.object_id = objectId
    fields.version = validateVersion(version)
    parseId(shardId, 'shard_id')
    fields.shard_ids = [shardId]
    const view = calls.view(options.epoch)
    const record = await lookupRecord(calls, objectId, fields.version, options)
    // Unless told which block, answer the epoch's challenge: a leaf nobody could pick in advance.
    const { proof, shard, answeredBy } = await unlessCallerLeft(
      proveShard(
        calls.ctx,
        record,
        shardId,
        (s) => {
          if (options.leafIndex === undefined) {
            return challengeIndex(challengeSeed(view.epoch, view.snapshotHash), s.shard_id, s.leaf_count)
          }
          if (
            !Number.isSafeInteger(options.leafIndex) ||
            options.leafIndex < 0 ||
            options.leafIndex >= s.leaf_count
          ) {
            throw new InvalidInputError(`leaf index must be in 0..${s.leaf_count - 1}`)
          }
          return options.leafIndex
        },
        options.signal,
      ),
      options.signal,
    )
    const event = await calls.record({
      ...fields,
      epoch: view.epoch,
      hash_commit: record.hash_commit,
      replica_sets: { [shardId]: shard.replicas },
      details: { leaf_index: proof.leaf_index, answered_by: answeredBy, verified: true },
    })
    return {
      ok: true,
      object_id: objectId,
      version: record.version,
      shard_id: shardId,
      merkle_root: shard.merkle_root,
      proof,
      assigned_nodes: shard.replicas,
      answered_by: answeredBy,
      storage_event_id: event,
    }
  } catch (err) {
    return failure(err, await calls.recordFailure(fields, err))
  }
}

/**
 * First blocks asked for while an exact version's record is resolved (prefetch.ts), unless this
 * node keeps the record and the lookup costs nothing.
 */
function prefetchFirstBlocks(
  calls: EngineCalls,
  objectId: string,
  version: number,
  signal?: AbortSignal,
): FirstBlockPrefetch | undefined {
  const view = calls.membership.current()
  if (signal?.aborted === true || calls.decided.has(view.epoch, objectId, version)) return undefined
  return new FirstBlockPrefetch(calls.ctx, view, objectId, version, signal)
}

/** The decided record of a version (or of the latest), from the homes or as this node last resolved it. */
async function lookupRecord(
  calls: EngineCalls,
  objectId: string,
  version: number | 'latest',
  options: CallOptions,
) {
  const view = calls.membership.current()
  // A call already given up fails as it would asking the homes, not with a kept record.
  options.signal?.throwIfAborted()
  if (version !== 'latest') {
    const known = calls.decided.get(view.epoch, objectId, version)
    if (known !== undefined) return known
  }
  const homes = view.eligible.catalogueHomes(objectId, view.params.replicationFactor)
  // Kept only once every home answered it: a home that lacks it is caught up by the reads that
  // still ask, which a kept record would stop. A caller that went away cut the lookups short:
  // NOT_FOUND or QUORUM_NOT_REACHED would then be no verdict on the homes.
  return unlessCallerLeft(
    resolveRecord(calls.ctx, homes, objectId, version, options.signal, (record) => {
      if (record.object_id === objectId && (version === 'latest' || record.version === version))
        calls.decided.remember(view.epoch, record)
    }),
    options.signal,
  )
}
