import { QfsError, storageErrorCode } from '../core/errors.js'
import { recordDigest, type VersionRecord } from '../core/record.js'
import { InvalidVersionError, VersionConflictError } from '../store/errors.js'
import { catchUp } from './catalogue.js'
import { ask, type EngineContext, majority, type Settled, settle, settleAsking } from './context.js'
import { countedCodes, QuorumNotReachedError } from './errors.js'
import type { CommitRequest, CommitResult } from './transport.js'

/**
 * The write side of the catalogue (catalogue.ts holds the read side): what the homes hold before a
 * version is written, and the decide step where they take its record, at most one per version.
 */

/** What the homes hold for a version about to be written, asked before any byte moves. */
export interface Preflight {
  /** Records the homes already hold for this version (any digest). */
  existing: VersionRecord[]
}

/**
 * Fails fast when a majority of homes says the version leaves a gap, and remembers what the homes
 * already hold for the version, so a writer never pushes a second record onto a home that missed
 * the first (which would split the vote).
 */
export async function preflight(
  ctx: EngineContext,
  objectId: string,
  version: number,
  homes: readonly string[],
  signal?: AbortSignal,
  cutBefore?: Set<string>,
): Promise<Preflight> {
  const q = majority(homes.length)
  // The homes' own check at decide is what keeps one record per version; this is to fail fast and to
  // avoid splitting a vote, so a home that lately failed is not waited for once a majority answered.
  const options = {
    signal,
    cutBefore,
    enough: (answers: ReadonlyArray<Settled<unknown>>) =>
      answers.filter((a) => a.error === undefined).length >= q,
  }
  const exactly = (n: string, sig?: AbortSignal) =>
    ask(ctx, n, sig, (s) => ctx.transport.getRecord(n, objectId, version, { signal: s }))
  if (version === 1) {
    const exact = await settleAsking<VersionRecord | undefined>(ctx, homes, options, exactly)
    return { existing: exact.flatMap((a) => (a.value === undefined ? [] : [a.value])) }
  }
  // One question per home: its latest tells the gap and, homes holding contiguous versions, whether
  // it holds this version (its latest is it, or above it: only then is the version itself asked for).
  const latest = await settleAsking<VersionRecord | undefined>(ctx, homes, options, (n, sig) =>
    ask(ctx, n, sig, (s) => ctx.transport.getRecord(n, objectId, 'latest', { signal: s })),
  )
  const latestVersions = latest.filter((a) => a.error === undefined).map((a) => a.value?.version ?? 0)
  if (latestVersions.length >= q && latestVersions.filter((v) => v + 1 < version).length >= q) {
    throw new InvalidVersionError(
      `version ${version} leaves a gap: the object's latest is ${Math.max(...latestVersions)}`,
    )
  }
  const existing = latest.flatMap((a) => (a.value?.version === version ? [a.value] : []))
  const above = latest.filter((a) => a.value !== undefined && a.value.version > version).map((a) => a.node)
  for (const a of await settle(above, (n) => exactly(n, signal))) {
    if (a.value !== undefined) existing.push(a.value)
  }
  return { existing }
}

/**
 * Decide: offer the record to every home and succeed with a majority. A home that refuses because
 * it missed earlier versions is caught up with the decided records it lacks and asked again.
 */
export async function decide(
  ctx: EngineContext,
  record: VersionRecord,
  homes: readonly string[],
  staged: (node: string) => CommitRequest['staged'],
  before: Preflight,
  signal?: AbortSignal,
  cutBefore?: Set<string>,
): Promise<Array<{ node: string; value?: CommitResult; error?: unknown }>> {
  const digest = recordDigest(record)
  // Another record some home holds would split the vote if offered to the rest. Ours, once some home
  // holds it, cannot split it further (a home takes one record per version): offering it again only
  // lets a home that took none complete it, as after two racing writers split the homes.
  const held = before.existing.map(recordDigest)
  if (held.some((d) => d !== digest) && !held.includes(digest)) {
    throw new VersionConflictError(
      `version ${record.version} of ${record.object_id} already holds another record`,
    )
  }
  const offer = (node: string, sig = signal) =>
    ask(ctx, node, sig, (s) =>
      ctx.transport.commitVersion(node, { record, staged: staged(node) }, { signal: s }),
    )
  // A home that lately failed is not waited for once a majority took the record: it is caught up
  // later like any lagging home. A home that staged shards of this write is: its answer commits them,
  // and the write's durability may rest on it.
  const q = majority(homes.length)
  const first = await settleAsking<CommitResult>(
    ctx,
    homes,
    {
      signal,
      enough: (answers) => answers.filter((a) => a.value !== undefined).length >= q,
      keep: (node) => staged(node).length > 0,
      cutBefore,
    },
    offer,
  )
  return Promise.all(
    first.map(async (answer) => {
      if (!(answer.error instanceof QfsError) || answer.error.code !== InvalidVersionError.code) return answer
      try {
        await catchUp(ctx, homes, answer.node, record.object_id, record.version, signal)
        return { node: answer.node, value: await offer(answer.node) }
      } catch (error) {
        return { node: answer.node, error }
      }
    }),
  )
}

/** The homes' refusals a writer is told as they are: they are about the version or the request. */
const WRITER_VERDICTS: ReadonlySet<string> = new Set(['VERSION_CONFLICT', 'INVALID_VERSION', 'INVALID_INPUT'])

/**
 * The homes' own verdict when they refused the version or the request (VERSION_CONFLICT,
 * INVALID_VERSION, INVALID_INPUT), else a quorum failure: an unreachable, timed-out or internally
 * failing home is no verdict on the record, and a home's other refusals (its staged shard swept,
 * NOT_FOUND; busy; full) say nothing a writer can act on but retrying (docs/sdk.md "Failures").
 */
export function refusal(errors: unknown[], accepted: number, total: number): Error {
  const verdict = errors.find((e) => e instanceof QfsError && WRITER_VERDICTS.has(e.code))
  if (verdict instanceof QfsError) return verdict
  const why = countedCodes(errors)
  return new QuorumNotReachedError(
    `${accepted} of ${total} catalogue homes accepted the record${why === '' ? '' : ` (${why})`}`,
  )
}

/**
 * Whether a home's failure is its own verdict on the record (it did not take it), rather than an
 * answer that never came (unreachable, timed out, cut off, failing inside), after which the home
 * may hold the record all the same.
 */
export function isVerdict(error: unknown): boolean {
  return error instanceof QfsError && storageErrorCode(error) !== 'SE_ERR_INTERNAL'
}
