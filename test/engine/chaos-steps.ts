import { shardId } from '../../src/core/ids.js'
import { EligibleSet } from '../../src/core/placement.js'
import { verifyStorageProof } from '../../src/core/proof.js'
import type { VersionRecord } from '../../src/core/record.js'
import type { StorageEngine } from '../../src/engine/engine.js'
import type { ChaosOracle } from './chaos-oracle.js'
import type { ChaosCase, Step } from './chaos-schedule.js'
import { type ChaosTransport, CLEAN_LINK } from './chaos-transport.js'
import type { Harness } from './cut-short-helpers.js'

/** One generated step of a chaos case, run against the network, checked against the oracle as it ends. */

/** Which nodes had a fault (down, frozen, a lossy link) at any time in an interval. */
export class FaultBook {
  private readonly faulty = new Set<string>()
  private readonly changes = new Map<string, number>()

  set(node: string, faulty: boolean): void {
    if (faulty) this.faulty.add(node)
    else this.faulty.delete(node)
    this.changes.set(node, (this.changes.get(node) ?? 0) + 1)
  }

  /** A mark to pass to `cleanSince`: undefined when one of `nodes` is faulty now. */
  mark(nodes: readonly string[]): number[] | undefined {
    if (nodes.some((n) => this.faulty.has(n))) return undefined
    return nodes.map((n) => this.changes.get(n) ?? 0)
  }

  /** True when none of `nodes` was faulty at `mark` nor changed since. */
  cleanSince(nodes: readonly string[], mark: number[] | undefined): boolean {
    return mark !== undefined && nodes.every((n, i) => (this.changes.get(n) ?? 0) === mark[i])
  }
}

export interface StepContext {
  c: ChaosCase
  h: Harness
  chaos: ChaosTransport
  engines: Map<string, StorageEngine>
  oracle: ChaosOracle
  faults: FaultBook
  /** Faults of the links, kept apart from down and frozen (a node can have both). */
  linkFaulty: Set<string>
  down: Set<string>
  frozen: Set<string>
  /** Faults in force by `op:node`, so that overlapping ones end with the last. */
  active: Map<string, number>
  /** Writes that failed other than for a gap: the client's retry of each comes at the end. */
  failedWrites: Array<{ writer: string; oid: string; version: number; variant: 0 | 1 | 2 }>
  /**
   * Latest reads that answered NOT_FOUND after an acknowledgement: the end checks for a delete marker
   * from `from` on (the acknowledged version with every home clean, v1 otherwise).
   */
  latestNotFound: Array<{ oid: string; from: number; where: string }>
  counts: Record<string, number>
}

const homesOf = (ctx: StepContext, oid: string): string[] =>
  new EligibleSet(ctx.h.nodeIds).catalogueHomes(oid, 3)

function count(ctx: StepContext, key: string): void {
  ctx.counts[key] = (ctx.counts[key] ?? 0) + 1
}

function refreshFault(ctx: StepContext, node: string): void {
  ctx.faults.set(node, ctx.down.has(node) || ctx.frozen.has(node) || ctx.linkFaulty.has(node))
}

/**
 * Reads one version (or the latest) through `node` and checks what it answers: claim 1 for the
 * content, the bytes against the content the case wrote, and no INTEGRITY_MISMATCH (nothing in a
 * chaos case alters bytes). Returns the answer's version and kind, or the failure's code.
 */
export async function checkedRead(
  ctx: StepContext,
  node: string,
  oid: string,
  version: number | 'latest',
  where: string,
): Promise<
  | { ok: true; version: number; hash: string; kind: string; record: VersionRecord }
  | { ok: false; code: string; detail: string }
> {
  const engine = ctx.engines.get(node)!
  const opened = await engine.readContent(oid, version === 'latest' ? undefined : version)
  if (!opened.ok) {
    if (opened.code === 'INTEGRITY_MISMATCH')
      ctx.oracle.violation(`${where}: INTEGRITY_MISMATCH with no bytes altered`)
    return { ok: false, code: opened.code, detail: opened.error_detail }
  }
  if (version !== 'latest' && opened.version !== version)
    ctx.oracle.violation(`${where}: asked for v${version}, answered v${opened.version}`)
  if (opened.record.hash_commit !== opened.hash_commit || opened.record.version !== opened.version)
    ctx.oracle.violation(`${where}: the answer's facts are not its record's`)
  const candidate = ctx.oracle.observe(oid, opened.version, opened.hash_commit, where)
  for (const p of opened.proofs) ctx.oracle.observeRoot(oid, opened.version, p.shard_id, p.merkle_root, where)
  const parts: Uint8Array[] = []
  try {
    for await (const block of opened.content) parts.push(block)
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'INTERNAL'
    if (code === 'INTEGRITY_MISMATCH')
      ctx.oracle.violation(`${where}: INTEGRITY_MISMATCH with no bytes altered`)
    return { ok: false, code, detail: String((err as Error).message) }
  }
  if (candidate !== undefined && !Buffer.concat(parts).equals(Buffer.from(candidate.content)))
    ctx.oracle.violation(
      `${where}: bytes of ${oid.slice(0, 8)}/${opened.version} are not the content its hash_commit names`,
    )
  return {
    ok: true,
    version: opened.version,
    hash: opened.hash_commit,
    kind: opened.kind,
    record: opened.record,
  }
}

async function write(ctx: StepContext, s: Extract<Step, { op: 'write' }>, where: string): Promise<void> {
  const oid = ctx.oracle.oids[s.object]!
  const v = ctx.oracle.nextVersion(oid, s.back)
  const writer = ctx.h.nodeIds[ctx.c.writers[s.writer]!]!
  const r = await writeVersion(ctx, writer, oid, v, s.variant, where)
  if (!r.ok && r.code !== 'INVALID_VERSION')
    ctx.failedWrites.push({ writer, oid, version: v, variant: s.variant })
}

/** One write of a candidate content, checked and recorded when acknowledged. */
export async function writeVersion(
  ctx: StepContext,
  writer: string,
  oid: string,
  v: number,
  variant: 0 | 1 | 2,
  where: string,
): Promise<{ ok: boolean; code?: string }> {
  const cand = ctx.oracle.candidates(oid, v)[variant]!
  const engine = ctx.engines.get(writer)!
  const answered = ctx.oracle.attempt(oid, v, variant)
  const r =
    variant === 2
      ? await engine.deleteContent(oid, v, cand.metadata)
      : await engine.putContent(oid, v, cand.content, cand.metadata)
  answered(r.ok ? undefined : r.code)
  count(ctx, r.ok ? 'acks' : `write:${r.code}`)
  if (!r.ok) return r
  const at = performance.now()
  if (r.hash_commit !== cand.hashCommit || r.version !== v || r.kind !== cand.kind || r.object_id !== oid)
    ctx.oracle.violation(`${where}: the acknowledgement of ${oid.slice(0, 8)}/${v} names another write`)
  ctx.oracle.observe(oid, v, r.hash_commit, `${where} ack`)
  ctx.oracle.acks.push({ oid, version: v, variant, answer: r, at })
  return r
}

async function read(ctx: StepContext, s: Extract<Step, { op: 'read' }>, where: string): Promise<void> {
  const oid = ctx.oracle.oids[s.object]!
  const node = ctx.h.nodeIds[s.node]!
  const homes = homesOf(ctx, oid)
  const start = performance.now()
  const mark = ctx.faults.mark(homes)
  const everyone = ctx.faults.mark(ctx.h.nodeIds)
  const from = ctx.oracle.ackedBefore(oid, start)
  const version = s.version === 'acked' ? Math.max(1, from) : s.version
  const r = await checkedRead(ctx, node, oid, version, where)
  count(ctx, r.ok ? 'reads ok' : `read:${r.code}`)
  const ack = ctx.oracle.acks.find((a) => a.oid === oid && a.version === version && a.at < start)
  if (ack !== undefined && ctx.faults.cleanSince(ctx.h.nodeIds, everyone)) {
    count(ctx, 'acknowledged reads with every node clean')
    // Claim 2 while the run goes on: "The version is decided: a majority of its homes hold its
    // record, so every later read resolves the same record", and every shard is on q nodes.
    if (!r.ok)
      ctx.oracle.violation(`${where}: acknowledged v${version} answered ${r.code} with every node up`)
    else if (r.hash !== ack.answer.hash_commit) ctx.oracle.violation(`${where}: not the acknowledged content`)
  }
  // "A version read by number resolves to NOT_FOUND only when no record could have a majority even
  // if every home that did not answer held it": under any faults, never for an acknowledged version.
  if (ack !== undefined && !r.ok && r.code === 'NOT_FOUND')
    ctx.oracle.violation(`${where}: acknowledged v${version} answered NOT_FOUND`)
  if (s.version !== 'latest') return
  if (!ctx.faults.cleanSince(homes, mark)) {
    // "Latest likewise answers QUORUM_NOT_REACHED rather than "no version" when silent homes could
    // hold one; but with a home down and another lagging it may answer the previous decided
    // version": under faults, NOT_FOUND after an acknowledgement needs a delete marker at some
    // version (checked at the end, from v1 on).
    if (!r.ok && r.code === 'NOT_FOUND' && from > 0)
      ctx.latestNotFound.push({ oid, from: 1, where: `${where} (a home faulty)` })
    return
  }
  count(ctx, 'latest reads with clean homes')
  // Claim 3: "for "latest", the highest version at least q homes hold, or the highest decided one
  // below it when racing writers left it split" -- with every home answering, an acknowledged
  // version (held by q homes) is never passed over.
  if (r.ok && r.version < from)
    ctx.oracle.violation(`${where}: latest answered v${r.version} after v${from} was acknowledged`)
  if (!r.ok && r.code === 'NOT_FOUND' && from > 0) ctx.latestNotFound.push({ oid, from, where })
  if (!r.ok && r.code === 'QUORUM_NOT_REACHED')
    ctx.oracle.violation(`${where}: latest answered QUORUM_NOT_REACHED with every home answering`)
}

async function list(ctx: StepContext, s: Extract<Step, { op: 'list' }>, where: string): Promise<void> {
  const oids = s.object === 'all' ? ctx.oracle.oids : [ctx.oracle.oids[s.object]!]
  const start = performance.now()
  const mark = ctx.faults.mark(ctx.h.nodeIds)
  const r = await ctx.engines
    .get(ctx.h.nodeIds[s.node]!)!
    .listObjects(s.object === 'all' ? {} : { prefix: oids[0] })
  count(ctx, r.ok ? 'listings ok' : `list:${r.code}`)
  if (!r.ok) return
  const listed = new Set<string>()
  for (const o of r.objects) {
    ctx.oracle.observe(o.object_id, o.version, o.hash_commit, where)
    listed.add(`${o.object_id}/${o.version}`)
  }
  if (r.next_cursor !== null || !ctx.faults.cleanSince(ctx.h.nodeIds, mark)) return
  // "A listing page is complete up to its next_cursor" and lists a version once a majority of its
  // homes answer with its record: with every node answering, a last page leaves out no version
  // acknowledged before it was asked for.
  for (const a of ctx.oracle.acks) {
    if (a.at < start && oids.includes(a.oid) && !listed.has(`${a.oid}/${a.version}`))
      ctx.oracle.violation(
        `${where}: a complete listing left out ${a.oid.slice(0, 8)}/${a.version}, acknowledged before`,
      )
  }
}

async function proof(ctx: StepContext, s: Extract<Step, { op: 'proof' }>, where: string): Promise<void> {
  const oid = ctx.oracle.oids[s.object]!
  const version =
    s.version === 'acked' ? Math.max(1, ctx.oracle.ackedBefore(oid, performance.now())) : s.version
  const sid = shardId(oid, version, s.shard)
  const r = await ctx.engines.get(ctx.h.nodeIds[s.node]!)!.getStorageProof(oid, version, sid)
  count(ctx, r.ok ? 'proofs ok' : `proof:${r.code}`)
  if (!r.ok) return
  if (r.object_id !== oid || r.version !== version || r.shard_id !== sid)
    ctx.oracle.violation(`${where}: a proof of another shard`)
  if (!verifyStorageProof(r.proof, { merkleRoot: r.merkle_root, shardId: sid }).ok)
    ctx.oracle.violation(`${where}: the proof does not verify against its root`)
  ctx.oracle.observeRoot(oid, version, sid, r.merkle_root, where)
}

export async function runStep(
  ctx: StepContext,
  s: Step,
  where: string,
  sweep: (node: string) => Promise<unknown>,
): Promise<void> {
  switch (s.op) {
    case 'write':
      return write(ctx, s, where)
    case 'read':
      return read(ctx, s, where)
    case 'list':
      return list(ctx, s, where)
    case 'proof':
      return proof(ctx, s, where)
    case 'sweep':
      await sweep(ctx.h.nodeIds[s.node]!)
      return
  }
  const node = ctx.h.nodeIds[s.node]!
  await setFault(ctx, s, node, +1)
  await new Promise((r) => setTimeout(r, s.ms))
  await setFault(ctx, s, node, -1)
}

/** Starts (+1) or ends (-1) one fault; overlapping faults of a node end when the last one does. */
async function setFault(
  ctx: StepContext,
  s: Extract<Step, { op: 'down' | 'freeze' | 'link' }>,
  node: string,
  delta: 1 | -1,
): Promise<void> {
  const key = `${s.op}:${node}`
  const n = (ctx.active.get(key) ?? 0) + delta
  ctx.active.set(key, n)
  if (s.op === 'down') {
    if (n > 0) ctx.down.add(node)
    else ctx.down.delete(node)
    await ctx.h.setDown(node, n > 0)
  } else if (s.op === 'freeze') {
    if (n > 0) ctx.frozen.add(node)
    else ctx.frozen.delete(node)
    ctx.chaos.setFrozen(node, n > 0)
  } else if (s.op === 'link') {
    const lossy = s.faults.dropReply > 0 || s.faults.dropRequest > 0
    if (n > 0 && lossy) ctx.linkFaulty.add(node)
    else ctx.linkFaulty.delete(node)
    ctx.chaos.setLink(node, n > 0 ? s.faults : CLEAN_LINK)
  }
  refreshFault(ctx, node)
}
