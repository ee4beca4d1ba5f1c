import { EligibleSet } from '../../src/core/placement.js'
import type { VersionRecord } from '../../src/core/record.js'
import { DeterministicTime } from '../../src/core/time.js'
import { createLogger } from '../../src/daemon/logger.js'
import { startStagingSweeper } from '../../src/daemon/staging-sweeper.js'
import { StorageEngine } from '../../src/engine/engine.js'
import type { StoreSuccess } from '../../src/engine/responses.js'
import { liveNodeState, replayNodeLog, stateHash } from '../../src/replay/index.js'
import { ChaosOracle } from './chaos-oracle.js'
import type { ChaosCase } from './chaos-schedule.js'
import { checkedRead, FaultBook, runStep, type StepContext, writeVersion } from './chaos-steps.js'
import { ChaosTransport, seededRandom } from './chaos-transport.js'
import { inProcessHarness } from './harness.js'

/** Runs one chaos case end to end: the overlapping steps, then the quiesced network's checks. */

export interface ChaosOptions {
  /** The engines' request deadline and stream idle time. */
  requestMs: number
  /** Longest a step may take to settle before it counts as a hang. */
  settleBoundMs: number
}

export interface CaseReport {
  violations: string[]
  counts: Record<string, number>
  /** Longest any step or final call took to settle, in ms. */
  slowestMs: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function runChaosCase(c: ChaosCase, o: ChaosOptions): Promise<CaseReport> {
  const h = await inProcessHarness(5)
  const chaos = new ChaosTransport(h.net.transport, seededRandom(c.seed), o.requestMs)
  // One engine per node, as a daemon has, sharing the node's decided records, over the fault layer.
  const engines = new Map(
    h.nodeIds.map((id) => [
      id,
      new StorageEngine(
        {
          nodeId: id,
          transport: chaos,
          membership: h.net.membership,
          log: h.net.node(id).log,
          time: new DeterministicTime(),
          decided: h.net.node(id).decided,
        },
        { timeouts: { requestMs: o.requestMs, streamIdleMs: o.requestMs, suspectGraceMs: 50 } },
      ),
    ]),
  )
  const oracle = new ChaosOracle(c)
  const ctx: StepContext = {
    c,
    h,
    chaos,
    engines,
    oracle,
    faults: new FaultBook(),
    linkFaulty: new Set(),
    down: new Set(),
    frozen: new Set(),
    active: new Map(),
    latestNotFound: [],
    failedWrites: [],
    counts: {},
  }
  const silent = createLogger('silent')
  const sweepers = new Map(
    h.nodeIds.map((id) => [
      id,
      startStagingSweeper({
        store: h.net.node(id).store,
        rollForward: (refs) => engines.get(id)!.rollForwardStaged(refs),
        intervalMs: 2 ** 30,
        olderThanMs: 0,
        log: silent,
      }),
    ]),
  )
  const sweep = (id: string) => sweepers.get(id)!.sweepNow()
  let slowestMs = 0
  /**
   * Claim 5: every call settles ("A peer a phase still needs is waited for to its full deadline"):
   * one that has not after the bound is reported, not awaited.
   */
  const bounded = async (run: () => Promise<unknown>, what: string): Promise<void> => {
    const start = performance.now()
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((r) => {
      timer = setTimeout(() => r('late'), o.settleBoundMs)
    })
    try {
      const settled = await Promise.race([run().then(() => 'settled' as const), late])
      if (settled === 'late') oracle.violation(`${what}: not settled after ${o.settleBoundMs} ms`)
    } catch (err) {
      oracle.violation(`${what}: threw ${String(err)}`)
    } finally {
      clearTimeout(timer)
      slowestMs = Math.max(slowestMs, performance.now() - start)
    }
  }
  const rejections: unknown[] = []
  const onRejection = (reason: unknown) => rejections.push(reason)
  process.on('unhandledRejection', onRejection)
  try {
    await Promise.all(
      c.steps.map(async (s, i) => {
        await sleep(s.at)
        await bounded(() => runStep(ctx, s, `step ${i} (${s.op})`, sweep), `step ${i} (${s.op})`)
      }),
    )
    // Quiesce: every node up, links clean.
    chaos.heal()
    for (const id of h.nodeIds) await h.setDown(id, false)
    await finalChecks(ctx, bounded, sweep)
    oracle.checkRefusedNeverReadable()
    // Fire-and-forget exchanges without a deadline (a write's aborts of single bad stagings) hold
    // nothing the caller waits for; counted, not judged (over libp2p the transport bounds them).
    if (chaos.unboundedFrozenCalls.length > 0)
      ctx.counts['background exchanges held by a frozen node'] = chaos.unboundedFrozenCalls.length
    for (const r of rejections) oracle.violation(`unhandled rejection: ${String(r)}`)
    return { violations: oracle.violations, counts: ctx.counts, slowestMs }
  } finally {
    process.off('unhandledRejection', onRejection)
    for (const s of sweepers.values()) await s.stop()
    await h.close()
  }
}

type Bounded = (run: () => Promise<unknown>, what: string) => Promise<void>

async function finalChecks(
  ctx: StepContext,
  bounded: Bounded,
  sweep: (node: string) => Promise<unknown>,
): Promise<void> {
  const { h, oracle } = ctx
  const eligible = new EligibleSet(h.nodeIds)
  // Claim 3 first, while homes that were away still lag (the reads below repair them): with every
  // home up, the latest is at least the highest acknowledged version. Before the sweep a version
  // decided but never committed may read SHARD_UNAVAILABLE ("until the roll-forward, a retry or
  // repair commits the shards").
  const latestRead = async (phase: string, shardsMayLack: boolean) => {
    for (const oid of oracle.oids) {
      const acked = oracle.ackedBefore(oid, Number.POSITIVE_INFINITY)
      const where = `final latest read of ${oid.slice(0, 8)} ${phase}`
      await bounded(async () => {
        const r = await checkedRead(ctx, h.nodeIds[acked % 5]!, oid, 'latest', where)
        if (r.ok && r.version < acked)
          oracle.violation(`${where}: v${r.version} below acknowledged v${acked}`)
        if (r.ok || r.code === 'NOT_FOUND' || (shardsMayLack && r.code === 'SHARD_UNAVAILABLE')) {
          if (!r.ok && r.code === 'NOT_FOUND' && acked > 0)
            ctx.latestNotFound.push({ oid, from: acked, where })
          return
        }
        oracle.violation(`${where}: ${r.code} with every node up (${r.detail})`)
      }, where)
    }
  }
  await latestRead('before the sweep', true)
  // The same claim as checkRefusedNeverReadable, before the retries below can complete a refused
  // content: one that q homes hold is decided, and would read as its content.
  for (const r of oracle.refusedOnly()) {
    const hash = oracle.candidates(r.oid, r.version)[r.variant]!.hashCommit
    let holding = 0
    for (const home of eligible.catalogueHomes(r.oid, 3))
      if ((await h.net.node(home).service.getRecord(r.oid, r.version))?.hash_commit === hash) holding++
    if (holding >= 2)
      oracle.violation(
        `${r.oid.slice(0, 8)}/${r.version} variant ${r.variant}: decided at ${holding} homes, but every write of it was refused`,
      )
  }
  // A client whose write failed sends the identical write again ("the same write again is idempotent
  // at the homes and commits the missing replicas, so a client retries with the same bytes"; "The
  // identical write of one of the split records can complete v"). Without it a version can stay
  // decided with shards nowhere: a coordinator that hears too few homes accept (their answers lost)
  // takes back every staging of the non-home holders, which the roll-forward then cannot use.
  const retried = new Set<string>()
  for (const f of ctx.failedWrites) {
    const key = `${f.oid}/${f.version}/${f.variant}`
    if (retried.has(key)) continue
    retried.add(key)
    const where = `retry of ${f.oid.slice(0, 8)}/${f.version} variant ${f.variant} via ${f.writer}`
    await bounded(() => writeVersion(ctx, f.writer, f.oid, f.version, f.variant, where), where)
  }
  // The staging sweep of every node: roll-forward of what a decided version still needs.
  for (const id of h.nodeIds) await bounded(() => sweep(id), `final sweep on ${id}`)
  await latestRead('after the retries and the sweep', false)
  // Claim 2: "The version is decided: a majority of its homes hold its record, so every later read
  // resolves the same record": every acknowledged write, through every node, is the acknowledged record.
  for (const a of oracle.acks) {
    for (const node of h.nodeIds) {
      const where = `final read of ${a.oid.slice(0, 8)}/${a.version} via ${node}`
      await bounded(async () => {
        const r = await checkedRead(ctx, node, a.oid, a.version, where)
        if (!r.ok) oracle.violation(`${where}: ${r.code} with every node up`)
        else if (r.hash !== a.answer.hash_commit) oracle.violation(`${where}: not the acknowledged content`)
        else if (!sameShards(r.record, a.answer))
          oracle.violation(`${where}: the record's shards are not the ones the acknowledgement named`)
      }, where)
    }
  }
  // Every version the case tried, through one node, for claim 1's tally and the latest checks below.
  const tried = new Map<string, number>()
  for (const s of ctx.c.steps) {
    if (s.op === 'write' || s.op === 'read' || s.op === 'proof') {
      const oid = oracle.oids[s.object]!
      tried.set(oid, Math.max(tried.get(oid) ?? 0, oracle.ackedBefore(oid, Number.POSITIVE_INFINITY) + 1))
    }
  }
  const decidedKind = new Map<string, string>()
  for (const [oid, high] of tried) {
    for (let v = 1; v <= high; v++) {
      await bounded(
        async () => {
          const r = await checkedRead(ctx, h.nodeIds[v % 5]!, oid, v, `final read of ${oid.slice(0, 8)}/${v}`)
          if (r.ok) decidedKind.set(`${oid}/${v}`, r.kind)
        },
        `final read of ${oid.slice(0, 8)}/${v}`,
      )
    }
  }
  // "Reading "latest" when the latest version is a DELETE_MARKER answers SE_ERR_NOT_FOUND": a
  // latest read that found nothing after v was acknowledged saw a delete marker at v or later.
  for (const n of ctx.latestNotFound) {
    const high = tried.get(n.oid) ?? n.from
    let marker = false
    for (let v = n.from; v <= high; v++)
      if (decidedKind.get(`${n.oid}/${v}`) === 'DELETE_MARKER') marker = true
    if (!marker)
      oracle.violation(
        `${n.where}: NOT_FOUND after v${n.from} was acknowledged, and no delete marker from it on`,
      )
  }
  // Read repair runs in the background: let it finish before a node goes away.
  await sleep(100)
  // "Content survives the loss of any R - q nodes (1 of 3)": with one node down, every acknowledged
  // write still reads back, except where a home holds a loser's record for the version (docs:
  // "Settling such minority records is repair's job"), which leaves the two others to agree.
  const away = h.nodeIds[ctx.c.finalDown]!
  await h.setDown(away, true)
  for (const a of oracle.acks) {
    const homes = eligible.catalogueHomes(a.oid, 3)
    let minority = false
    for (const home of homes) {
      const rec = await h.net.node(home).service.getRecord(a.oid, a.version)
      if (rec !== undefined && rec.hash_commit !== a.answer.hash_commit) minority = true
    }
    for (const node of h.nodeIds.filter((n) => n !== away)) {
      const where = `read of ${a.oid.slice(0, 8)}/${a.version} via ${node} with ${away} down`
      await bounded(async () => {
        const r = await checkedRead(ctx, node, a.oid, a.version, where)
        if (!r.ok && !(minority && homes.includes(away))) oracle.violation(`${where}: ${r.code}`)
        if (r.ok && r.hash !== a.answer.hash_commit)
          oracle.violation(`${where}: not the acknowledged content`)
      }, where)
    }
  }
  await h.setDown(away, false)
  await sleep(50)
  // Claim 4: "Every shard is on at least q nodes' disks, committed and covered by their audit logs":
  // each node's log alone replays to its live state (src/replay), and its chain verifies.
  for (const id of h.nodeIds) {
    const node = h.net.node(id)
    await node.log.flush()
    const live = await liveNodeState(id, node.store)
    const replayed = await replayNodeLog(id, node.log.iterate())
    if (stateHash(replayed) !== stateHash(live))
      oracle.violation(`${id}: replaying its log does not give its live state`)
    const verdict = await node.log.verify()
    if (!verdict.ok) oracle.violation(`${id}: its log does not verify: ${verdict.code} ${verdict.reason}`)
  }
}

/** The record's shards and their replicas are the ones the acknowledgement named. */
function sameShards(record: VersionRecord, ack: StoreSuccess): boolean {
  const ids = record.shards.map((d) => d.shard_id)
  if (JSON.stringify(ids) !== JSON.stringify(ack.shard_ids)) return false
  return record.shards.every(
    (d) => JSON.stringify(d.replicas) === JSON.stringify(ack.replica_sets[d.shard_id]),
  )
}
