import { parseId } from '../core/bytes.js'
import { canonicalJson } from '../core/canonical.js'
import { InvalidInputError } from '../core/errors.js'
import type { CallOptions, StorageEngineApi } from '../engine/api.js'
import { type EngineFailure, failure, type ObjectSummary } from '../engine/responses.js'

export { confirmationDetail } from './confirm-detail.js'

/** The version a caller wants confirmed: a read's or a write's answer has these fields. */
export interface VersionToConfirm {
  object_id: string
  version: number
  hash_commit: string
}

/** What one asked node said about the version. */
export type ConfirmationAnswer =
  /**
   * The node lists the version with this `hash_commit`, or does not list it (null). From
   * `confirmSummary`, `differs` names the summary's other fields the node lists otherwise.
   */
  | { hash_commit: string | null; differs?: string[] }
  /** The node's listing failed (its `code`): it confirms nothing. */
  | { code: string }

export interface VersionConfirmation {
  ok: true
  /** True when more than half of the nodes asked list the version as given. */
  confirmed: boolean
  /** How many of them did. */
  agreeing: number
  /** One per node asked, in the order given. */
  answers: ConfirmationAnswer[]
}

/** A listing summary's fields besides the version's name and `hash_commit`, as `confirmSummary` compares them. */
const SUMMARY_FIELDS = ['kind', 'content_size', 'created_at_tick', 'metadata'] as const

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
    checkTarget(target)
    checkAsked(engines)
  } catch (err) {
    return failure(err, null)
  }
  const listed = await Promise.all(engines.map((engine) => listedSummary(engine, target, options)))
  const answers = listed.map((l): ConfirmationAnswer => ('code' in l ? l : { hash_commit: l.hash_commit }))
  return tally(answers, target.hash_commit)
}

/**
 * `confirmVersion` for a whole listing summary: a node agrees when it lists the version with the same
 * `hash_commit` and the same kind, size, tick and metadata. A read checks metadata against
 * `hash_commit` with the content; a listing or metadata query moves no content, so a node could pair a
 * true `hash_commit` with made-up metadata, and only the other nodes' summaries can tell.
 */
export async function confirmSummary(
  engines: readonly StorageEngineApi[],
  summary: ObjectSummary,
  options: CallOptions = {},
): Promise<VersionConfirmation | EngineFailure> {
  try {
    checkTarget(summary)
    checkAsked(engines)
    const missing = differingFields(summary, summary, SUMMARY_FIELDS)
    if (missing.length > 0) throw new InvalidInputError(`the summary to confirm has no ${missing.join(', ')}`)
  } catch (err) {
    return failure(err, null)
  }
  const listed = await Promise.all(engines.map((engine) => listedSummary(engine, summary, options)))
  const answers = listed.map((l): ConfirmationAnswer => {
    if ('code' in l) return l
    if (l.hash_commit === null) return { hash_commit: null }
    const differs = differingFields(summary, l, SUMMARY_FIELDS)
    return differs.length === 0 ? { hash_commit: l.hash_commit } : { hash_commit: l.hash_commit, differs }
  })
  return tally(answers, summary.hash_commit)
}

export function checkTarget(target: VersionToConfirm): void {
  if (target === null || typeof target !== 'object')
    throw new InvalidInputError(
      'the version to confirm must be an object with object_id, version and hash_commit',
    )
  parseId(target.object_id, 'object_id')
  parseId(target.hash_commit, 'hash_commit')
  if (!Number.isSafeInteger(target.version) || target.version < 1)
    throw new InvalidInputError('version must be a positive integer')
}

/** The nodes to ask: at least one, each once. */
export function checkAsked(engines: readonly object[]): void {
  if (!Array.isArray(engines)) throw new InvalidInputError('engines must be a list of nodes to ask')
  if (engines.length === 0) throw new InvalidInputError('confirming a version needs at least one node to ask')
  // One node's word counts once: the same engine twice, or two clients of one node (a QfsClient's
  // `nodeId`), would let a liar given twice outvote an honest node.
  const seen = new Set<unknown>()
  for (const engine of engines) {
    const who = askedIdentity(engine)
    if (seen.has(who))
      throw new InvalidInputError(
        `each node is asked once: ${typeof who === 'string' ? who : 'an engine'} is given twice`,
      )
    seen.add(who)
  }
}

/** What tells two asked engines apart: a client's node id, or else the engine object itself. */
export function askedIdentity(engine: object): unknown {
  const id = (engine as { nodeId?: unknown } | null)?.nodeId
  return typeof id === 'string' ? `node ${id}` : engine
}

/**
 * The fields among `fields` in which `theirs` differs from `ours`, compared as canonical JSON. A field
 * `ours` lacks, or that cannot be written as JSON on either side (a custom engine's malformed
 * answer), differs: it agrees with nothing.
 */
export function differingFields(ours: object, theirs: object, fields: readonly string[]): string[] {
  return fields.filter((f) => {
    const mine = jsonText((ours as Record<string, unknown>)[f])
    return mine === undefined || mine !== jsonText((theirs as Record<string, unknown>)[f])
  })
}

function jsonText(value: unknown): string | undefined {
  if (value === undefined) return undefined
  try {
    return canonicalJson(value)
  } catch {
    return undefined
  }
}

export function tally(answers: ConfirmationAnswer[], hashCommit: string): VersionConfirmation {
  const agreeing = answers.filter(
    (a) => 'hash_commit' in a && a.hash_commit === hashCommit && a.differs === undefined,
  ).length
  return { ok: true, confirmed: agreeing * 2 > answers.length, agreeing, answers }
}

/**
 * One node's listing of exactly `target.version` of the object, a page of one starting there: the
 * summary listed (`hash_commit` null when the node does not list that version), or the failure's code.
 */
async function listedSummary(
  engine: StorageEngineApi,
  target: VersionToConfirm,
  options: CallOptions,
): Promise<ObjectSummary | { hash_commit: null } | { code: string }> {
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
    return listed ? first : { hash_commit: null }
  } catch (err) {
    // An engine of the interface answers failures; one that throws confirms nothing all the same.
    return { code: failure(err, null).code }
  }
}
