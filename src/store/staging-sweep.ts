import { InvalidInputError } from '../core/errors.js'
import { countersOp, readCounters } from './counters.js'
import { blockRange, parseStagingId, type RootDb, type StoreSublevels } from './db.js'
import { decodeMarker, type StagingMarker } from './manifest.js'

/**
 * The staging area's housekeeping scans: which staged shards a sweep may remove, which finished
 * ones wait for a commit that never came, and removing one. The store runs them under its write lock.
 */

export interface SweepOptions {
  /** Remove staged shards whose marker is at least this old (default 15 minutes). */
  olderThanMs?: number
  /**
   * When given, the finished staged shards to remove, whatever their age; no other finished staged
   * shard is touched (the roll-forward judged these; one that grew old meanwhile was not asked about).
   * Unfinished markers and idle streams still go by age.
   */
  removeStaged?: ReadonlySet<string>
}

/** A fully staged shard still waiting for its commit: what a roll-forward needs to decide its fate. */
export interface StagedShardRef {
  stagingId: string
  objectId: string
  version: number
  shardId: string
  length: number
  merkleRoot: string
  /** Local time the shard was staged. */
  createdMs: number
}

/**
 * A node's shards and object index over one abstract-level database (LevelDB or memory).
 *
 * Concurrency: everything that changes the index, manifests or counters runs under `writeLock`.
 * `beginShard`, writer aborts, `open` and `sweepStaging` take it themselves; `prepareCommit` does
 * NOT: its caller holds the lock from `prepareCommit` until its root batch (the store's ops plus its
 * own log entry) is written, so never call a self-locking method while holding it.
 */
export function checkAge(olderThanMs: number): number {
  if (!Number.isSafeInteger(olderThanMs) || olderThanMs < 0) {
    throw new InvalidInputError('olderThanMs must be a non-negative integer')
  }
  return olderThanMs
}

/** Finished staged shards completed at or before `cutoff` that no stream in this process is writing. */
export async function finishedStaged(
  subs: StoreSublevels,
  isStreaming: (stagingId: string) => boolean,
  cutoff: number,
): Promise<StagedShardRef[]> {
  const out: StagedShardRef[] = []
  for await (const value of subs.staging.values()) {
    const m = decodeMarker(value)
    if (m.state !== 'staged' || m.merkleRoot === null || isStreaming(m.stagingId)) continue
    if (m.createdMs > cutoff) continue
    out.push({
      stagingId: m.stagingId,
      objectId: m.objectId,
      version: m.version,
      shardId: m.shardId,
      length: m.length,
      merkleRoot: m.merkleRoot,
      createdMs: m.createdMs,
    })
  }
  return out
}

/**
 * Staging ids a sweep removes: markers no stream is writing that are older than `cutoff`, except
 * that with `removeStaged` a finished shard goes only if listed there (it was judged; one that grew
 * old since was not asked about).
 */
export async function sweepable(
  subs: StoreSublevels,
  isStreaming: (stagingId: string) => boolean,
  cutoff: number,
  removeStaged: ReadonlySet<string> | undefined,
): Promise<string[]> {
  const out: string[] = []
  for await (const value of subs.staging.values()) {
    const marker = decodeMarker(value)
    if (isStreaming(marker.stagingId)) continue
    const judged = removeStaged !== undefined && marker.state === 'staged'
    if (judged ? removeStaged.has(marker.stagingId) : marker.createdMs <= cutoff) out.push(marker.stagingId)
  }
  return out
}

/**
 * Removes one staged shard, blocks first and the marker last: a crash in between leaves the marker,
 * so `open()` finishes the job. False if there was none. Under the write lock.
 */
export async function removeStagingEntry(
  db: RootDb,
  subs: StoreSublevels,
  stagingId: string,
): Promise<boolean> {
  const key = parseStagingId(stagingId)
  const value = await subs.staging.get(key)
  if (value === undefined) return false
  await subs.blocks.clear(blockRange(stagingId))
  const counters = await readCounters(subs)
  counters.staged = Math.max(0, counters.staged - 1)
  counters.staged_bytes = Math.max(0, counters.staged_bytes - decodeMarker(value).length)
  await db.batch([{ type: 'del', sublevel: subs.staging, key }, countersOp(subs, counters)])
  return true
}

/**
 * At open: removes every unfinished staging (a stream a crash cut off) and every finished one whose
 * blocks are not all there, and returns the finished ones kept.
 */
export async function keepFinishedStaging(
  db: RootDb,
  subs: StoreSublevels,
): Promise<{ removed: number; kept: StagingMarker[] }> {
  const kept: StagingMarker[] = []
  const doomed: string[] = []
  for await (const value of subs.staging.values()) {
    const m = decodeMarker(value)
    const blocks = m.state === 'staged' ? (await subs.blocks.keys(blockRange(m.stagingId)).all()).length : -1
    if (blocks === m.leafHashes.length) kept.push(m)
    else doomed.push(m.stagingId)
  }
  let removed = 0
  for (const id of doomed) if (await removeStagingEntry(db, subs, id)) removed++
  return { removed, kept }
}
