import { InvalidInputError } from '../core/errors.js'
import type { CallOptions } from '../engine/api.js'
import { IntegrityMismatchError } from '../engine/errors.js'
import { DEFAULT_PAGE, validateFilters } from '../engine/list.js'
import { failure, type ListResponse, type ProofResponse } from '../engine/responses.js'
import { checkListing } from './checks.js'
import type { ClientParts } from './client-calls.js'
import { toFailure } from './failures.js'

/** fetchStorageProof of a QfsClient: the node's proof answer, passed on unchecked. */
export async function fetchStorageProofCall(
  parts: ClientParts,
  objectId: string,
  version: number,
  shardId: string,
  options: CallOptions & { leafIndex?: number },
): Promise<ProofResponse> {
  const begun = await parts.calls.begin('proofs', options)
  if ('answer' in begun) return begun.answer
  const { call } = begun
  try {
    return await parts.calls.asked('proofs', call, () =>
      parts.storage.getProof(
        parts.node,
        {
          object_id: objectId,
          version,
          shard_id: shardId,
          leaf_index: options.leafIndex,
          epoch: options.epoch,
        },
        { signal: call.signal },
      ),
    )
  } catch (err) {
    return parts.calls.failureOf(err, null)
  } finally {
    call.end()
  }
}

/** listObjects of a QfsClient: the node's page, checked against the filters it was asked for. */
export async function listObjectsCall(
  parts: ClientParts,
  filters: unknown,
  options: CallOptions,
): Promise<ListResponse> {
  const refused = parts.calls.refusedAtOnce(options)
  if (refused !== undefined) return refused
  if (filters !== null && (typeof filters !== 'object' || Array.isArray(filters))) {
    return failure(new InvalidInputError('filters must be an object'), null)
  }
  const begun = await parts.calls.begin('listings', options)
  if ('answer' in begun) return begun.answer
  const { call } = begun
  let answer: ListResponse
  try {
    answer = await parts.calls.asked('listings', call, () =>
      parts.storage.list(
        parts.node,
        { filters: (filters ?? {}) as Record<string, unknown>, epoch: options.epoch },
        { signal: call.signal },
      ),
    )
  } catch (err) {
    return parts.calls.failureOf(err, null)
  } finally {
    call.end()
  }
  if (!answer.ok) return answer
  // The node accepted the filters, so they pass the engine's own check; the page must honour them.
  let wrong: string | undefined
  try {
    const f = validateFilters(filters)
    wrong = checkListing(answer, { ...f, limit: f.limit ?? DEFAULT_PAGE })
  } catch {
    wrong = 'the node accepted filters the engine refuses'
  }
  if (wrong === undefined) return answer
  return toFailure(
    new IntegrityMismatchError(`the node's listing is wrong: ${wrong}`),
    answer.storage_event_id,
  )
}
