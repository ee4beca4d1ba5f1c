import { recordDigest, type VersionRecord } from '../core/record.js'
import { ask, type EngineContext, majority, type Settled, settle, settleAsking } from './context.js'
import { ObjectNotFoundError, QuorumNotReachedError } from './errors.js'

/**
 * The catalogue side of the engine: what an object's homes hold, and bringing a home that missed
 * versions up to date (deciding a version there is decide.ts). Homes accept at most one record per
 * version, so at most one record can have a majority: this is what makes at most one content
 * readable for a given (object_id, version) (docs/consistency.md).
 */

/** Versions a lagging home is caught up by at most, per call; more is repair's job. */
const MAX_CATCH_UP = 64

/**
 * Undecided versions a read of the latest steps back over at most, below the highest version a
 * majority of the homes hold (racing writers can leave such a version split, docs/consistency.md).
 */
export const MAX_LATEST_STEPS_BACK = 16

/**
 * The record a majority of `homes` agree on; homes that lack it are caught up in the background.
 * `onUnanimous` is called later with that record if every home answered it (nothing left to repair).
 */
export async function resolveRecord(
  ctx: EngineContext,
  homes: readonly string[],
  objectId: string,
  version: number | 'latest',
  signal?: AbortSignal,
  onUnanimous?: (record: VersionRecord) => void,
): Promise<VersionRecord> {
  const q = majority(homes.length)
  let wanted = version
  if (wanted === 'latest') {
    // A home that lately failed is not waited for once the others settle the question: at least a
    // majority answered and they agree on the highest version, so no later version can have a
    // majority that includes the silent homes. When they disagree, it may tip it: wait for it.
    const agreeOnLatest = (answers: ReadonlyArray<Settled<VersionRecord | undefined>>) => {
      const latest = answers.filter((a) => a.error === undefined).map((a) => a.value?.version ?? 0)
      return latest.length >= q && latest.every((v) => v === latest[0])
    }
    const answers = await settleAsking<VersionRecord | undefined>(
      ctx,
      homes,
      { signal, enough: agreeOnLatest },
      (n, sig) => ask(ctx, n, sig, (s) => ctx.transport.getRecord(n, objectId, 'latest', { signal: s })),
    )
    const versions = answers
      .filter((a) => a.error === undefined)
      .map((a) => a.value?.version ?? 0)
      .sort((a, b) => b - a)
    if (versions.length < q)
      throw new QuorumNotReachedError(`${versions.length} of ${homes.length} homes answered`)
    // Homes hold contiguous versions, so the q-th highest latest is held by at least q homes.
    wanted = versions[q - 1]!
    if (wanted === 0) {
      // Silent homes that may hold versions could complete a majority: that is no "no version".
      const holding = versions.filter((v) => v > 0).length
      if (holding + (homes.length - versions.length) >= q) {
        throw new QuorumNotReachedError(
          `${versions.length} of ${homes.length} homes answered, without a majority`,
        )
      }
      throw new ObjectNotFoundError(`object ${objectId} has no version`)
    }
    // The latest answers already settle `wanted` when q homes hold one record there: asking the
    // same homes for that version again (below) would tell nothing more.
    const settled = fromLatest(answers, wanted, homes, q)
    if (settled !== undefined) {
      for (const home of settled.lacking) void catchUp(ctx, homes, home, objectId, wanted + 1).catch(() => {})
      if (settled.unanimous) onUnanimous?.(settled.record)
      return settled.record
    }
  }
  if (version !== 'latest') return resolveExact(ctx, homes, objectId, wanted, signal, onUnanimous)
  // The highest version a majority holds may be split between racing writers' records: no content
  // is readable there, so the latest readable one is below it.
  const lowest = Math.max(1, wanted - MAX_LATEST_STEPS_BACK)
  for (let v = wanted; ; v--) {
    try {
      return await resolveExact(ctx, homes, objectId, v, signal, onUnanimous)
    } catch (err) {
      if (!(err instanceof ObjectNotFoundError) || v === 1) throw err
      if (v === lowest) {
        throw new ObjectNotFoundError(
          `object ${objectId} has no decided version among versions ${lowest}..${wanted}`,
        )
      }
    }
  }
}

/** The record of `exact` a majority of `homes` agree on (resolveRecord). */
async function resolveExact(
  ctx: EngineContext,
  homes: readonly string[],
  objectId: string,
  exact: number,
  signal?: AbortSignal,
  onUnanimous?: (record: VersionRecord) => void,
): Promise<VersionRecord> {
  const q = majority(homes.length)
  const asked = askUntilAgreed(homes, q, (n) =>
    ask(ctx, n, signal, (s) => ctx.transport.getRecord(n, objectId, exact, { signal: s })),
  )
  const agreed = await asked.agreed
  // Read repair: a reachable home without the decided record missed it; bring it up to date so one
  // more failure does not leave the version without a majority. A home whose answer failed may lack
  // it too (catchUp asks its latest first and does nothing if it is current), as for a read of the
  // latest. It waits for the slower homes, the reader does not.
  const repair = (answers: Answer[]) => {
    const { winner, lacking, reachable, mostVotes } = tally(answers, q)
    if (winner === undefined) return
    const failed = answers.filter((a) => a.error !== undefined).map((a) => a.node)
    for (const home of [...lacking, ...failed])
      void catchUp(ctx, homes, home, objectId, exact + 1).catch(() => {})
    if (reachable === homes.length && mostVotes === homes.length) onUnanimous?.(winner)
  }
  if (agreed !== undefined) {
    void asked.all.then(repair)
    return agreed
  }
  const answers = await asked.all
  repair(answers)
  const { reachable, mostVotes } = tally(answers, q)
  // Not found only when no record can have a majority even if every silent home held it: a home
  // that is down may be one of the version's majority.
  if (mostVotes + (homes.length - reachable) >= q) {
    throw new QuorumNotReachedError(`${reachable} of ${homes.length} homes answered, without a majority`)
  }
  throw new ObjectNotFoundError(`object ${objectId} version ${exact} is not stored`)
}

type Answer = { node: string; value?: VersionRecord; error?: unknown }

/**
 * The record of `wanted` that q homes gave as their latest, if any: decided, as an exact lookup of
 * `wanted` would find it. `lacking`: homes whose latest is below `wanted` (homes hold contiguous
 * versions) or whose answer failed, for read repair; `unanimous` when every home answered exactly
 * this record.
 */
function fromLatest(
  answers: ReadonlyArray<Settled<VersionRecord | undefined>>,
  wanted: number,
  homes: readonly string[],
  q: number,
): { record: VersionRecord; lacking: string[]; unanimous: boolean } | undefined {
  const votes = new Map<string, { record: VersionRecord; count: number }>()
  for (const a of answers) {
    if (a.error !== undefined || a.value === undefined || a.value.version !== wanted) continue
    const digest = recordDigest(a.value)
    const v = votes.get(digest) ?? { record: a.value, count: 0 }
    v.count++
    votes.set(digest, v)
  }
  const winner = [...votes.values()].find((v) => v.count >= q)
  if (winner === undefined) return undefined
  // A home whose answer failed (or was cut short) may lack it too, and no second round asks it now:
  // catchUp asks its latest first, with the full deadline, and does nothing if it is current.
  const lacking = answers
    .filter((a) => a.error !== undefined || (a.value?.version ?? 0) < wanted)
    .map((a) => a.node)
  const unanimous = winner.count === homes.length
  return { record: winner.record, lacking, unanimous }
}

/**
 * Asks every home and settles `agreed` as soon as `q` of them answer the same record (at most one
 * record can have a majority, since homes accept one per version), or with undefined once every home
 * answered without a majority. Which homes answer first changes only how long a reader waits on a
 * slow one, never the record it gets. `all` settles with every answer.
 */
function askUntilAgreed(
  homes: readonly string[],
  q: number,
  ask: (node: string) => Promise<VersionRecord | undefined>,
): { agreed: Promise<VersionRecord | undefined>; all: Promise<Answer[]> } {
  const votes = new Map<string, number>()
  let settleAgreed!: (record: VersionRecord | undefined) => void
  const agreed = new Promise<VersionRecord | undefined>((resolve) => {
    settleAgreed = resolve
  })
  const all = Promise.all(
    homes.map(async (node): Promise<Answer> => {
      try {
        const value = await ask(node)
        if (value !== undefined) {
          const digest = recordDigest(value)
          const count = (votes.get(digest) ?? 0) + 1
          votes.set(digest, count)
          if (count === q) settleAgreed(value)
        }
        return { node, value }
      } catch (error) {
        return { node, error }
      }
    }),
  )
  void all.then(() => settleAgreed(undefined))
  return { agreed, all }
}

/** The record at least `q` answers agree on, if any; who answered, and who answered "none". */
function tally(
  answers: Answer[],
  q: number,
): { winner: VersionRecord | undefined; reachable: number; lacking: string[]; mostVotes: number } {
  const votes = new Map<string, { record: VersionRecord; count: number }>()
  let reachable = 0
  const lacking: string[] = []
  for (const a of answers) {
    if (a.error !== undefined) continue
    reachable++
    if (a.value === undefined) {
      lacking.push(a.node)
      continue
    }
    const digest = recordDigest(a.value)
    const v = votes.get(digest) ?? { record: a.value, count: 0 }
    v.count++
    votes.set(digest, v)
  }
  const winner = [...votes.values()].find((v) => v.count >= q)?.record
  const mostVotes = Math.max(0, ...[...votes.values()].map((v) => v.count))
  return { winner, reachable, lacking, mostVotes }
}

/**
 * What the homes decided for one version: its record; `null` when no record can have a majority
 * even if every home that did not answer held one; `undefined` when too few answered to tell.
 */
export async function decidedRecord(
  ctx: EngineContext,
  homes: readonly string[],
  objectId: string,
  version: number,
  signal?: AbortSignal,
): Promise<VersionRecord | null | undefined> {
  const answers = await settle(homes, (n) =>
    ask(ctx, n, signal, (s) => ctx.transport.getRecord(n, objectId, version, { signal: s })),
  )
  const q = majority(homes.length)
  const { winner, reachable, mostVotes } = tally(answers, q)
  if (winner !== undefined) return winner
  return mostVotes + (homes.length - reachable) < q ? null : undefined
}

/**
 * Pushes to `home` the decided records of versions after its latest and before `upTo`, in order,
 * each resolved by a majority first. Bounded: a home far behind is left to repair.
 */
export async function catchUp(
  ctx: EngineContext,
  homes: readonly string[],
  home: string,
  objectId: string,
  upTo: number,
  signal?: AbortSignal,
): Promise<void> {
  const latest =
    (await ask(ctx, home, signal, (s) => ctx.transport.getRecord(home, objectId, 'latest', { signal: s })))
      ?.version ?? 0
  if (upTo - latest > MAX_CATCH_UP) return
  for (let v = latest + 1; v < upTo; v++) {
    const record = await resolveDecided(ctx, homes, objectId, v, signal)
    await ask(ctx, home, signal, (s) =>
      ctx.transport.commitVersion(home, { record, staged: [] }, { signal: s }),
    )
  }
}

/** The decided record of one version, without read repair (catch-up must not recurse). */
async function resolveDecided(
  ctx: EngineContext,
  homes: readonly string[],
  objectId: string,
  version: number,
  signal?: AbortSignal,
): Promise<VersionRecord> {
  const q = majority(homes.length)
  // Once one record has a majority no other can: a home that lately failed is not waited for then.
  const answers = await settleAsking<VersionRecord | undefined>(
    ctx,
    homes,
    { signal, enough: (got) => tally([...got], q).winner !== undefined },
    (n, sig) => ask(ctx, n, sig, (s) => ctx.transport.getRecord(n, objectId, version, { signal: s })),
  )
  const { winner, reachable, mostVotes } = tally(answers, q)
  if (winner !== undefined) return winner
  // Homes that did not answer may hold the decided record: "not found" would tell a writer to give
  // up on a write that succeeds once they are back (docs/sdk.md "Failures").
  if (mostVotes + (homes.length - reachable) >= q) {
    throw new QuorumNotReachedError(
      `version ${version} of ${objectId}: ${reachable} of ${homes.length} catalogue homes answered, too few to tell its decided record to catch up from`,
    )
  }
  throw new ObjectNotFoundError(`version ${version} of ${objectId} has no majority to catch up from`)
}
