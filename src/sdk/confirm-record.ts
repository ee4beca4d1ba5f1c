import { InvalidInputError } from '../core/errors.js'
import { recordDigest, type VersionRecord } from '../core/record.js'
import type { CallOptions } from '../engine/api.js'
import { type EngineFailure, failure } from '../engine/responses.js'
import {
  type ConfirmationAnswer,
  checkAsked,
  checkTarget,
  differingFields,
  tally,
  type VersionConfirmation,
} from './confirm.js'

/** A client that can fetch a version's record from its node (a `QfsClient`). */
export interface RecordSource {
  getRecord(objectId: string, version?: number, options?: CallOptions): Promise<VersionRecord | EngineFailure>
  readonly nodeId?: string
}

/**
 * `confirmVersion` for a whole version record: a node agrees when the record it resolves from the
 * object's homes is this one, byte for byte (its canonical JSON). A `hash_commit` binds the content
 * and metadata but not the shards' Merkle roots or holders, so a proof checked against a record only
 * one node gave (`QfsClient.getStorageProof` without a verified read of the version) is that node's
 * word until the other nodes' records agree. An answer that differs names the record's fields that
 * do (`differs`); a node that fails (`NOT_FOUND` included) counts against.
 */
export async function confirmRecord(
  sources: readonly RecordSource[],
  record: VersionRecord,
  options: CallOptions = {},
): Promise<VersionConfirmation | EngineFailure> {
  let digest: string
  try {
    checkTarget(record)
    if (
      sources === null ||
      !Array.isArray(sources) ||
      sources.some((s) => typeof s?.getRecord !== 'function')
    )
      throw new InvalidInputError('each node to confirm with must be a client that can fetch a record')
    checkAsked(sources)
    digest = recordDigest(record)
  } catch (err) {
    return failure(err, null)
  }
  const answers = await Promise.all(
    sources.map(async (source): Promise<ConfirmationAnswer> => {
      try {
        const theirs = await source.getRecord(record.object_id, record.version, options)
        if ('error_code' in theirs) return { code: theirs.code }
        if (recordDigest(theirs) === digest) return { hash_commit: theirs.hash_commit }
        const keys = Object.keys({ ...record, ...theirs }).filter((k) => k !== 'hash_commit')
        const differs = [
          ...new Set([...differingFields(record, theirs, keys), ...differingFields(theirs, record, keys)]),
        ]
        return { hash_commit: theirs.hash_commit, differs: differs.length > 0 ? differs.sort() : ['record'] }
      } catch (err) {
        return { code: failure(err, null).code }
      }
    }),
  )
  return tally(answers, record.hash_commit)
}
