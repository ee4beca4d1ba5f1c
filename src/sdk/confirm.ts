import { parseId } from '../core/bytes.js'
import { InvalidInputError } from '../core/errors.js'
import type { CallOptions, StorageEngineApi } from '../engine/api.js'
import { type EngineFailure, failure } from '../engine/responses.js'

/** The version a caller wants confirmed: a read's or a write's answer has these fields. */
export interface VersionToConfirm {
  object_id: string
  version: number
  hash_commit: string
}

/** What one asked node said about the version. */
export type ConfirmationAnswer =
  /** The node lists the version with this `hash_commit`, or does not list it (null). */
  | { hash_commit: string | null }
  /** The node's listing failed (its `code`): it confirms nothing. */
  | { code: string }

export interface VersionConfirmation {
  ok: true
  /** True when more than half of the nodes asked list the version with the given `hash_commit`. */
  confirmed: boolean
  /** How many of them did. */
  agreeing: number
  /** One per node asked, in the order given. */
  answers: ConfirmationAnswer[]
}

/**
 * Asks other nodes whether they list `version` with its `hash_commit` (docs/sdk.md "What is
 * verified, what is trusted"). A read verifies every byte against the record the node it reads from
 * sends, so a hostile node can serve a made-up record with matching bytes; each node asked here
 * answers from a listing it coordinates with the object's homes (the majority rule reads use), so
 * the version is confirmed when a strict majority of the nodes asked agree: a node that fails, does
 * not answer, or does not list the version counts against it. Ask nodes other than the one read
 * from, an odd number of them; the answer holds while more than half of them are honest.
 */
export async function confirmVersion(
  engines: readonly StorageEngineApi[],
  target: VersionToConfirm,
  options: CallOptions = {},
): Promise<VersionConfirmation | EngineFailure> {
  try {
    if (!Array.isArray(engines)) throw new InvalidInputError('engines must be a list of nodes to ask')
    if (target === null || typeof target !== 'object')
      throw new InvalidInputError(
        'the version to confirm must be an object with object_id, version and hash_commit',
      )
    parseId(target.object_id, 'object_id')
    parseId(target.hash_commit, 'hash_commit')
    if (!Number.isSafeInteger(target.version) || target.version < 1)
      throw new InvalidInputError('version must be a positive integer')
    if (engines.length === 0)
      throw new InvalidInputError('confirming a version needs at least one node to ask')
    // One node's word counts once: the same engine twice, or two clients of one node (a QfsClient's
    // `nodeId`), would let a liar given twice outvote an honest node.
    const seen = new Set<unknown>()
    for (const engine of engines) {
      const id = (engine as { nodeId?: unknown } | null)?.nodeId
      const who = typeof id === 'string' ? `node ${id}` : engine
      if (seen.has(who))
        throw new InvalidInputError(
          `each node is asked once: ${typeof who === 'string' ? who : 'an engine'} is given twice`,
        )
      seen.add(who)
    }
  } catch (err) {
    return failure(err, null)
  }
  const answers = await Promise.all(engines.map((engine) => listedCommit(engine, target, options)))
  const agreeing = answers.filter((a) => 'hash_commit' in a && a.hash_commit === target.hash_commit).length
  return { ok: true, confirmed: agreeing * 2 > engines.length, agreeing, answers }
}

/** One node's listing of exactly `target.version` of the object: a page of one, starting there. */
async function listedCommit(
  engine: StorageEngineApi,
  target: VersionToConfirm,
  options: CallOptions,
): Promise<ConfirmationAnswer> {
  try {
    const page = await engine.listObjects(
      // A full-length prefix names one object; `after` version - 1 starts the page at `version`.
      {
        prefix: target.object_id,
        after: { object_id: target.object_id, version: target.version - 1 },
        limit: 1,
      },
      options,
    )
    if (!page.ok) return { code: page.code }
    const first = page.objects[0]
    const listed =
      first !== undefined && first.object_id === target.object_id && first.version === target.version
    return { hash_commit: listed ? first.hash_commit : null }
  } catch (err) {
    // An engine of the interface answers failures; one that throws confirms nothing all the same.
    return { code: failure(err, null).code }
  }
}
