import { atrCost } from '../core/atr.js'
import { toHex } from '../core/bytes.js'
import { HashCommitBuilder } from '../core/commit.js'
import { shardId as computeShardId } from '../core/ids.js'
import { leafHash, MerkleTree } from '../core/merkle.js'
import { metadataSeed, type StorageMetadata } from '../core/metadata.js'
import type { ShardDescriptor, VersionKind, VersionRecord } from '../core/record.js'
import { shardRanges, splitIntoBlocks } from '../core/shards.js'
import type { EpochView } from '../membership/types.js'
import { VersionConflictError } from '../store/errors.js'
import { forwardedAcceptances } from './acceptance.js'
import {
  ask,
  codeOf,
  type EngineContext,
  majority,
  settle,
  settleAsking,
  underRequestDeadline,
} from './context.js'
import { decide, isVerdict, preflight, refusal } from './decide.js'
import { CutShortError, QuorumNotReachedError, stageShortfall } from './errors.js'
import { stageWhole, WHOLE_STAGE_BYTES } from './stage-whole.js'
import type { CommitResult, ShardSink, StagedShardInfo } from './transport.js'

/** Content of a known size that arrives in pieces; it is read once and never held whole. */
export interface ContentSource {
  size: number
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>
}

/**
 * Bytes given whole, or a `{size, chunks}` source whose chunks can be iterated, as a ContentSource;
 * undefined for anything else (the caller's INVALID_INPUT, before any byte moves).
 */
export function contentSource(content: Uint8Array | ContentSource): ContentSource | undefined {
  if (content instanceof Uint8Array) return { size: content.length, chunks: [content] }
  if (
    content === null ||
    typeof content !== 'object' ||
    !Number.isSafeInteger(content.size) ||
    content.size < 0 ||
    content.chunks === null ||
    typeof content.chunks !== 'object' ||
    (typeof (content.chunks as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] !== 'function' &&
      typeof (content.chunks as Partial<Iterable<unknown>>)[Symbol.iterator] !== 'function')
  ) {
    return undefined
  }
  return content
}

export interface WriteProgress {
  phase: 'stage' | 'decide' | 'commit'
  bytes: number
  total: number
}

export interface WriteArgs {
  objectId: string
  version: number
  kind: VersionKind
  content: ContentSource
  metadata: StorageMetadata
  view: EpochView
  tick: number
  writeQuorum?: number
  /** How far ahead of the bytes being sent shard streams are opened (default DEFAULT_PREOPEN_BYTES). */
  preopenBytes?: number
  signal?: AbortSignal
  onProgress?: (p: WriteProgress) => void
}

export interface WriteOutcome {
  record: VersionRecord
  underReplicated: Record<string, string[]>
  /** Homes that did not take the record: caught up by later reads and writes, or by repair. */
  laggingHomes: string[]
}

/**
 * How far ahead of the bytes being sent a shard's replica streams are opened, unless the engine is
 * told otherwise. A replica waits that long for the stream's first block and gives up after its idle
 * timeout, so a daemon sizes it by the slowest client it accepts (net/write-admission.ts
 * `replicaPreopenBytes`).
 */
export const DEFAULT_PREOPEN_BYTES = 4 * 1024 * 1024

/** Above this size a write asks the homes before moving any byte; below, it stages meanwhile. */
const ASK_FIRST_BYTES = 4 * 1024 * 1024

interface OpenShard {
  index: number
  shardId: string
  replicas: string[]
  leaves: Uint8Array[]
  sinks: Array<{ node: string; sink?: ShardSink; error?: unknown }>
}

/**
 * One version through stage, decide and commit (docs/consistency.md). Staged bytes stay invisible
 * until a majority of the object's catalogue homes accept the record; only then do holders commit.
 */
export async function writeVersion(ctx: EngineContext, args: WriteArgs): Promise<WriteOutcome> {
  const { view, objectId, version } = args
  const params = view.params
  const rf = params.replicationFactor
  const quorum = args.writeQuorum ?? majority(rf)
  const ranges = shardRanges(args.content.size, params)
  const plan = ranges.map((r) => {
    const id = computeShardId(objectId, version, r.index)
    return {
      index: r.index,
      shardId: id,
      length: r.end - r.start,
      replicas: view.eligible.place(id, rf).selected,
    }
  })
  const homes = view.eligible.catalogueHomes(objectId, rf)
  // A small object stages while the homes are asked (one round trip less); a large one asks first,
  // so a version that leaves a gap moves none of its bytes. A version some home holds still stages:
  // only the record, once every byte is hashed, tells the same write again from a conflict.
  // Peers cut off in one phase get no second grace in the next (context.ts `settleAsking`).
  const cutBefore = new Set<string>()
  const asked = preflight(ctx, objectId, version, homes, args.signal, cutBefore)
  asked.catch(() => {}) // awaited below, after staging for a small object
  if (args.content.size > ASK_FIRST_BYTES) await asked
  const preopen = args.preopenBytes ?? DEFAULT_PREOPEN_BYTES

  const staged = new Map<string, StagedShardInfo[]>()
  const roots = new Map<string, { root: string; leafCount: number }>()
  const refused = new Map<string, unknown[]>()
  const commit = new HashCommitBuilder()
  const allStaged = (): Array<{ node: string; id: string }> =>
    [...staged.values()].flat().map((s) => ({ node: s.node_id, id: s.staging_id }))
  // Shard streams are opened ahead and finished behind (docs/consistency.md "Stage" is unchanged):
  // a shard is opened once the bytes still to send before it fit `preopen`, and closed without
  // waiting for its replicas' answers, which are gathered before the decide step. A small object then
  // stages every shard in one round trip instead of two per shard, and a large one never waits
  // between shards; replicas opened early never sit idle longer than `preopen` bytes take to send.
  // Shard 0 is opened with the first block, not before: a client may pause before its first byte.
  const opened: Array<Promise<OpenShard>> = []
  const closing: Array<Promise<void>> = []
  let current: OpenShard | undefined
  let bytes = 0

  const open = async (index: number): Promise<OpenShard> => {
    const p = plan[index]!
    const header = {
      object_id: objectId,
      version,
      shard_index: index,
      shard_id: p.shardId,
      length: p.length,
      block_size_bytes: params.blockSizeBytes,
    }
    const sinks = await settleAsking<ShardSink>(
      ctx,
      p.replicas,
      {
        signal: args.signal,
        enough: (opened) => opened.filter((o) => o.value !== undefined).length >= quorum,
        cutBefore,
      },
      (node, signal) =>
        // Only a failure is reported here: opening a small shard does not reach the peer yet, so
        // success says nothing of it; the finish does.
        underRequestDeadline(ctx, signal, (s) => ctx.transport.openShard(node, header, { signal: s })).catch(
          (err: unknown) => {
            if (signal?.aborted !== true) ctx.health?.failed(node, codeOf(err))
            throw err
          },
        ),
    )
    return {
      index,
      shardId: p.shardId,
      replicas: p.replicas,
      leaves: [],
      sinks: sinks.map((s) => ({ node: s.node, sink: s.value, error: s.error })),
    }
  }
  const openAhead = (): void => {
    while (opened.length < plan.length && ranges[opened.length]!.start - bytes <= preopen) {
      opened.push(open(opened.length))
    }
  }
  const close = async (shard: OpenShard): Promise<void> => {
    const tree = MerkleTree.fromLeafHashes(shard.leaves)
    const root = toHex(tree.root)
    roots.set(shard.shardId, { root, leafCount: tree.leafCount })
    const matches = (info: StagedShardInfo) => info.merkle_root === root && info.leaf_count === tree.leafCount
    const finished = await settleAsking<StagedShardInfo>(
      ctx,
      shard.sinks.filter((s) => s.sink !== undefined).map((s) => s.node),
      {
        signal: args.signal,
        enough: (answers) =>
          answers.filter((a) => a.value !== undefined && matches(a.value)).length >= quorum,
        cutBefore,
      },
      (node, signal) => shard.sinks.find((s) => s.node === node)!.sink!.finish({ signal }),
    )
    // Neither a cut-off nor the caller giving up is news about the replica.
    const mute = (error: unknown) => error instanceof CutShortError || args.signal?.aborted === true
    for (const f of finished) {
      if (f.value !== undefined) ctx.health?.answered(f.node)
      else if (!mute(f.error)) ctx.health?.failed(f.node, codeOf(f.error))
    }
    const good: StagedShardInfo[] = []
    const errors = shard.sinks.filter((s) => s.sink === undefined).map((s) => s.error)
    for (const f of finished) {
      if (f.value === undefined) {
        // A cut-off is no refusal: the shard had enough without it, so it never explains a shortfall.
        if (!(f.error instanceof CutShortError)) errors.push(f.error)
        // A replica whose finish failed may still hold what it staged (and its room); let it go now.
        void shard.sinks
          .find((s) => s.node === f.node)
          ?.sink?.abort(f.error as Error)
          .catch(() => {})
        continue
      }
      // A replica that hashed different bytes than we sent is not a replica of this shard.
      if (matches(f.value)) good.push(f.value)
      else void ctx.transport.abortStaging(f.node, [f.value.staging_id]).catch(() => {})
    }
    staged.set(shard.shardId, good)
    refused.set(shard.shardId, errors)
  }
  /** Moves to shard `index`, closing (in the background) every shard before it. */
  const advance = async (index: number): Promise<OpenShard> => {
    while (current === undefined || current.index < index) {
      if (current !== undefined) closing.push(close(current))
      const next = current === undefined ? 0 : current.index + 1
      openAhead()
      if (opened.length <= next) opened.push(open(next))
      current = await opened[next]!
    }
    return current
  }

  if (args.content.size <= WHOLE_STAGE_BYTES) {
    const whole = await stageWhole(
      ctx,
      { objectId, version, content: args.content, params, plan, quorum, signal: args.signal, cutBefore },
      commit,
    )
    for (const [id, list] of whole.staged) staged.set(id, list)
    for (const [id, root] of whole.roots) roots.set(id, root)
    for (const [id, errors] of whole.refused) refused.set(id, errors)
    bytes = args.content.size
    args.onProgress?.({ phase: 'stage', bytes, total: args.content.size })
  } else {
    try {
      for await (const { shardIndex, block } of splitIntoBlocks(
        args.content.chunks,
        args.content.size,
        params,
      )) {
        const shard = await advance(shardIndex)
        commit.update(block)
        const leaf = leafHash(block)
        shard.leaves.push(leaf)
        // Every replica is handed the block before any is awaited: the slowest paces the loop.
        const writes = shard.sinks.map((s) => {
          const sink = s.sink
          if (sink === undefined) return undefined
          return sink.write(block, leaf).catch((err: unknown) => {
            s.error = err
            s.sink = undefined
            ctx.health?.failed(s.node, codeOf(err))
          })
        })
        for (const w of writes) if (w !== undefined) await w
        bytes += block.length
        openAhead()
        args.onProgress?.({ phase: 'stage', bytes, total: args.content.size })
      }
      // Trailing empty shards (and all four of an empty object) are staged too: holders keep their manifest.
      await advance(plan.length - 1)
      closing.push(close(current!))
      await Promise.all(closing)
    } catch (err) {
      const pending = await Promise.allSettled(opened)
      await Promise.allSettled(closing)
      await Promise.all(
        pending.map((o) =>
          o.status === 'fulfilled' && !staged.has(o.value.shardId)
            ? Promise.all(o.value.sinks.map((s) => s.sink?.abort(err as Error).catch(() => {})))
            : undefined,
        ),
      )
      await abortAll(ctx, allStaged())
      throw err
    }
  }

  let before: Awaited<typeof asked>
  try {
    before = await asked
  } catch (err) {
    await abortAll(ctx, allStaged())
    throw err
  }

  const shards: ShardDescriptor[] = plan.map((p) => ({
    shard_index: p.index,
    shard_id: p.shardId,
    length: p.length,
    leaf_count: roots.get(p.shardId)!.leafCount,
    merkle_root: roots.get(p.shardId)!.root,
    replicas: p.replicas,
  }))
  for (const s of shards) {
    if (staged.get(s.shard_id)!.length < quorum) {
      await abortAll(ctx, allStaged())
      throw stageShortfall(s.shard_index, staged.get(s.shard_id)!.length, rf, refused.get(s.shard_id) ?? [])
    }
  }
  const record: VersionRecord = {
    object_id: objectId,
    version,
    kind: args.kind,
    hash_commit: toHex(commit.digest(params.schemaVersion, metadataSeed(args.metadata))),
    content_size: args.content.size,
    metadata: args.metadata,
    schema_version: params.schemaVersion,
    block_size_bytes: params.blockSizeBytes,
    epoch: view.epoch,
    timestamp_tick: args.tick,
    atr_cost: atrCost(args.content.size, params.numShardsPerObject, rf).toString(),
    shards,
    catalogue_homes: homes,
  }
  const stagedOn = (node: string) =>
    [...staged.entries()].flatMap(([shardId, list]) =>
      list.filter((s) => s.node_id === node).map((s) => ({ shard_id: shardId, staging_id: s.staging_id })),
    )

  // Decide: the homes' append-only check is the one place where two racing writers meet.
  args.onProgress?.({ phase: 'decide', bytes, total: args.content.size })
  let decided: Awaited<ReturnType<typeof decide>>
  try {
    decided = await decide(ctx, record, homes, stagedOn, before, args.signal, cutBefore)
  } catch (err) {
    // Refused before any home was offered the record: nothing can be decided. Otherwise (the caller
    // gave up while offers were out) the record may be decided, and the staging sweep resolves it.
    if (err instanceof VersionConflictError) await abortAll(ctx, allStaged())
    throw err
  }
  const accepted = decided.filter((d) => d.value !== undefined)
  if (accepted.length < majority(homes.length)) {
    const silent = decided.filter((d) => d.value === undefined && !isVerdict(d.error)).length
    if (accepted.length + silent >= majority(homes.length)) {
      // Homes whose answer never came may have taken the record, so it may be decided: taking the
      // stagings back now could leave a decided version with a shard nowhere. They stay for the
      // staging sweep's roll-forward, which commits them if the record is decided and takes them
      // back once the homes show it is not; the identical write again completes it at once.
      throw new QuorumNotReachedError(
        `${accepted.length} of ${homes.length} catalogue homes accepted the record and ${silent} did not answer: it may be decided; send the same write again`,
      )
    }
    await abortAll(
      ctx,
      allStaged().filter((s) => !accepted.some((a) => a.node === s.node)),
    )
    throw refusal(
      decided.map((d) => d.error).filter((e) => e !== undefined),
      accepted.length,
      homes.length,
    )
  }

  args.onProgress?.({ phase: 'commit', bytes, total: args.content.size })
  const holders = [...new Set(shards.flatMap((s) => s.replicas))].filter(
    (n) => !homes.includes(n) && stagedOn(n).length > 0,
  )
  const committedOn = (answers: ReadonlyArray<{ node: string; value?: { shard_ids: string[] } }>) => {
    const done = new Set<string>() // `${shard_id}/${node}`
    for (const r of answers) for (const id of r.value?.shard_ids ?? []) done.add(`${id}/${r.node}`)
    return done
  }
  const durable = (done: Set<string>) =>
    shards.every((s) => s.replicas.filter((n) => done.has(`${s.shard_id}/${n}`)).length >= quorum)
  // What the homes signed: the holders that are no home keep the record only on a majority of them.
  const acceptances = forwardedAcceptances(accepted)
  const committed = await settleAsking<CommitResult>(
    ctx,
    holders,
    {
      signal: args.signal,
      enough: (answers) => durable(committedOn([...accepted, ...answers])),
      cutBefore,
    },
    (node, signal) =>
      ask(ctx, node, signal, (s) =>
        ctx.transport.commitVersion(node, { record, staged: stagedOn(node), acceptances }, { signal: s }),
      ),
  )
  const done = committedOn([...accepted, ...committed])
  const underReplicated: Record<string, string[]> = {}
  for (const s of shards) {
    const missing = s.replicas.filter((n) => !done.has(`${s.shard_id}/${n}`))
    if (missing.length > 0) underReplicated[s.shard_id] = missing
    if (s.replicas.length - missing.length < quorum) {
      // Decided but not durable enough to acknowledge; the same write again is idempotent and fills it.
      throw new QuorumNotReachedError(
        `shard ${s.shard_index} committed on ${s.replicas.length - missing.length} of ${rf}`,
      )
    }
  }
  const laggingHomes = decided.filter((d) => d.value === undefined).map((d) => d.node)
  return { record, underReplicated, laggingHomes }
}

/**
 * Takes back a failed write's staged shards before it answers, each exchange under the request
 * deadline like every other of the write: a holder frozen now must not hold the answer (a holder
 * that never hears the abort leaves its staging to the staging sweep).
 */
async function abortAll(ctx: EngineContext, staged: Array<{ node: string; id: string }>): Promise<void> {
  const byNode = new Map<string, string[]>()
  for (const s of staged) byNode.set(s.node, [...(byNode.get(s.node) ?? []), s.id])
  await settle([...byNode.keys()], (node) =>
    underRequestDeadline(ctx, undefined, (signal) =>
      ctx.transport.abortStaging(node, byNode.get(node)!, { signal }),
    ),
  )
}
