import type { VersionRecord } from '../core/record.js'
import type { EpochView } from '../membership/types.js'
import type { StagedShardRef } from '../store/index.js'
import { type Acceptance, forwardedAcceptances } from './acceptance.js'
import { catchUp, decidedRecord } from './catalogue.js'
import { ask, type EngineContext, settle, underRequestDeadline } from './context.js'

/** What became of stale staged shards, by staging id. */
export interface RollForwardResult {
  /** A decided record names them: now committed here. */
  committed: string[]
  /** No record needs them: none was decided for their version, or the decided one names other bytes. */
  unneeded: string[]
  /** Too few homes answered, or the commit failed: ask again later. */
  undecided: string[]
}

/**
 * Rolls forward the writes whose coordinator stopped between decide and commit (docs/consistency.md
 * "Roll forward"). The homes' majority is the decision: a staged shard that the decided record names,
 * with the same root and this node among its replicas, is committed as if the coordinator had sent
 * the commit; one no record can need is reported unneeded, for the sweep to remove. Without this, a
 * version a majority of homes accepted could lose every copy of a shard its coordinator never
 * committed, and stay listed but unreadable.
 */
export async function rollForwardStaged(
  ctx: EngineContext,
  view: EpochView,
  refs: readonly StagedShardRef[],
  signal?: AbortSignal,
): Promise<RollForwardResult> {
  const result: RollForwardResult = { committed: [], unneeded: [], undecided: [] }
  const byVersion = new Map<string, StagedShardRef[]>()
  for (const ref of refs) {
    const key = `${ref.objectId}/${ref.version}`
    byVersion.set(key, [...(byVersion.get(key) ?? []), ref])
  }
  // One version at a time, in a fixed order: a sweep is background work and must not flood the homes.
  const keys = [...byVersion.entries()]
    .sort(([, a], [, b]) =>
      a[0]!.objectId === b[0]!.objectId
        ? a[0]!.version - b[0]!.version
        : a[0]!.objectId < b[0]!.objectId
          ? -1
          : 1,
    )
    .map(([key]) => key)
  for (const key of keys) {
    const group = byVersion.get(key)!
    const { objectId, version } = group[0]!
    const homes = view.eligible.catalogueHomes(objectId, view.params.replicationFactor)
    let record: VersionRecord | null | undefined
    try {
      record = await decidedRecord(ctx, homes, objectId, version, signal)
    } catch {
      record = undefined
    }
    if (record === undefined) {
      result.undecided.push(...group.map((r) => r.stagingId))
      continue
    }
    // One staging per shard: a write sent twice (a retry after an unknown outcome) can leave two.
    const needed: StagedShardRef[] = []
    if (record !== null) {
      for (const r of [...group].sort((a, b) => (a.stagingId < b.stagingId ? -1 : 1))) {
        if (namesStaged(record, r, ctx.nodeId) && !needed.some((n) => n.shardId === r.shardId)) needed.push(r)
      }
    }
    result.unneeded.push(...group.filter((r) => !needed.includes(r)).map((r) => r.stagingId))
    if (record === null || needed.length === 0) continue
    try {
      // A home that missed earlier versions cannot take this one until it holds them (append-only).
      if (record.catalogue_homes.includes(ctx.nodeId)) {
        await catchUp(ctx, homes, ctx.nodeId, objectId, version, signal)
      }
      const staged = needed.map((r) => ({ shard_id: r.shardId, staging_id: r.stagingId }))
      const acceptances = record.catalogue_homes.includes(ctx.nodeId)
        ? undefined
        : await homeAcceptances(ctx, homes, record, signal)
      await underRequestDeadline(ctx, signal, (s) =>
        ctx.transport.commitVersion(ctx.nodeId, { record, staged, acceptances }, { signal: s }),
      )
      result.committed.push(...needed.map((r) => r.stagingId))
    } catch {
      result.undecided.push(...needed.map((r) => r.stagingId))
    }
  }
  return result
}

/**
 * The homes' acceptances of a decided record, which this node needs to commit it as a holder that
 * is no home (acceptance.ts): the record offered to each home again, which a home that keeps it
 * answers idempotently, signed (and one that missed it takes, as read repair would).
 */
async function homeAcceptances(
  ctx: EngineContext,
  homes: readonly string[],
  record: VersionRecord,
  signal?: AbortSignal,
): Promise<Acceptance[]> {
  const answers = await settle(homes, (n) =>
    ask(ctx, n, signal, (s) => ctx.transport.commitVersion(n, { record, staged: [] }, { signal: s })),
  )
  return forwardedAcceptances(answers)
}

function namesStaged(record: VersionRecord, ref: StagedShardRef, nodeId: string): boolean {
  const d = record.shards.find((s) => s.shard_id === ref.shardId)
  return d !== undefined && d.merkle_root === ref.merkleRoot && d.replicas.includes(nodeId)
}
