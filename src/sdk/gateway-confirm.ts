import { InvalidInputError } from '../core/errors.js'
import type { StorageEngineApi } from '../engine/api.js'
import { type EngineFailure, failure, type ObjectSummary, type ReadSuccess } from '../engine/responses.js'
import {
  askedIdentity,
  checkAsked,
  confirmationDetail,
  confirmSummary,
  confirmVersion,
  differingFields,
  type VersionConfirmation,
  type VersionToConfirm,
} from './confirm.js'
import { NotConfirmedError } from './errors.js'

/** A failure of a version the nodes asked did not confirm, with what each of them answered. */
export type NotConfirmedFailure = EngineFailure & {
  confirmation: Pick<VersionConfirmation, 'agreeing' | 'answers'>
}

/**
 * The nodes an AtlasAPIGateway confirms with (docs/sdk.md "Confirming with other nodes"): each a
 * `StorageEngineApi` that can list, each node once, none of them the node the gateway talks to
 * (its word would count twice). Thrown, as `setStorageEngine` throws: a wiring mistake.
 */
export function checkConfirmingEngines(
  engines: readonly StorageEngineApi[],
  primary: StorageEngineApi | undefined,
): void {
  if (
    Array.isArray(engines) &&
    engines.some(
      (e) =>
        e === null ||
        typeof e !== 'object' ||
        typeof (e as unknown as Record<string, unknown>).listObjects !== 'function',
    )
  ) {
    throw new InvalidInputError('each node to confirm with must be a StorageEngineApi that can list')
  }
  checkAsked(engines)
  if (primary !== undefined && engines.some((e) => askedIdentity(e) === askedIdentity(primary))) {
    throw new InvalidInputError(
      'the gateway’s own storage engine cannot also confirm: its word would count twice',
    )
  }
}

/**
 * What a read answered, as the listing summary the other nodes are asked to agree with. Total over
 * a custom engine's malformed answer: what is missing stays missing, and agrees with nothing.
 */
export function summaryOfRead(read: ReadSuccess): ObjectSummary {
  const metadata = read.metadata as ReadSuccess['metadata'] | null | undefined
  return {
    object_id: read.object_id,
    version: read.version,
    kind: read.kind,
    hash_commit: read.hash_commit,
    content_size: read.content_bytes?.length,
    created_at_tick: metadata?.created_at_tick,
    metadata,
  } as ObjectSummary
}

/**
 * Undefined when a strict majority of `engines` list `target` as given: a whole summary field by
 * field, or a version by its hash_commit alone (a write's answer, whose hash_commit the client
 * checked against the content and metadata it sent); otherwise the failure to
 * answer in its place (NOT_CONFIRMED, or the confirmation's own failure), under `storageEventId`, the
 * event of the call whose answer was not confirmed.
 */
export async function unconfirmed(
  engines: readonly StorageEngineApi[],
  target: ObjectSummary | VersionToConfirm,
  storageEventId: string | null,
  signal: AbortSignal | undefined,
): Promise<EngineFailure | NotConfirmedFailure | undefined> {
  const answer =
    'metadata' in target
      ? await confirmSummary(engines, target, { signal })
      : await confirmVersion(engines, target, { signal })
  if (!answer.ok) return { ...answer, storage_event_id: storageEventId }
  if (answer.confirmed) return undefined
  const names = engines.map((e, i) => {
    const id = (e as { nodeId?: unknown }).nodeId
    return typeof id === 'string' ? id : `node ${i + 1}`
  })
  return {
    ...failure(new NotConfirmedError(confirmationDetail(target, answer, names)), storageEventId),
    confirmation: { agreeing: answer.agreeing, answers: answer.answers },
  }
}

const SUMMARY_KEYS = [
  'object_id',
  'version',
  'hash_commit',
  'kind',
  'content_size',
  'created_at_tick',
  'metadata',
]

/** Whether two summaries name the same version with the same hash_commit, kind, size, tick and metadata. */
export function sameSummary(a: ObjectSummary, b: ObjectSummary): boolean {
  return differingFields(a, b, SUMMARY_KEYS).length === 0 && differingFields(b, a, SUMMARY_KEYS).length === 0
}
