import { QfsError } from '../core/errors.js'
import { underDeadline } from './deadline.js'
import { CutShortError } from './errors.js'
import type { PeerHealth } from './peer-health.js'
import type { NodeTransport } from './transport.js'

export interface EngineTimeouts {
  /** One request/response exchange with a node (records, manifests, proofs, commits). */
  requestMs: number
  /** Longest pause allowed while streaming a shard to or from a replica. */
  streamIdleMs: number
  /**
   * How long a phase still waits for a peer that lately failed to answer, once every other peer has
   * answered and the phase has what it needs without it (`settleAsking`).
   */
  suspectGraceMs?: number
}

export const DEFAULT_SUSPECT_GRACE_MS = 500

/**
 * The grace of a peer the operation already cut off once. Not zero: the deadline's timer runs before
 * the event loop reads I/O, so an answer already received would be cut off with it.
 */
export const CUT_AGAIN_MS = 50

export const DEFAULT_TIMEOUTS: EngineTimeouts = {
  requestMs: 10_000,
  streamIdleMs: 30_000,
  suspectGraceMs: DEFAULT_SUSPECT_GRACE_MS,
}

/** What the coordinator's write, read and list paths share. */
export interface EngineContext {
  readonly nodeId: string
  readonly transport: NodeTransport
  readonly timeouts: EngineTimeouts
  /** Recent failures of peers: which replica a read tries first (never what it reads). */
  readonly health?: PeerHealth
}

/** More than half: two decisions that each need a majority always share a node. */
export function majority(n: number): number {
  return (n - (n % 2)) / 2 + 1
}

/**
 * A deadline for one exchange, tied to the caller's signal when there is one. The same for every
 * peer: a shorter one for peers that lately failed was tried and dropped, because a slow but
 * healthy node cut off early stays suspect from its own cut-offs, and record lookups cut short can
 * answer an older version (docs/consistency.md).
 */
export function underRequestDeadline<T>(
  ctx: EngineContext,
  signal: AbortSignal | undefined,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  return underDeadline(signal, ctx.timeouts.requestMs, run)
}

/**
 * The order in which a reader tries replicas: itself first (no network), then the placement order,
 * with peers that lately failed to answer moved to the end (still in placement order). Never by
 * which node answered fastest; every replica holds the same verified bytes.
 */
export function replicaOrder(replicas: readonly string[], self: string, health?: PeerHealth): string[] {
  const others = replicas.filter((n) => n !== self)
  // Asked once per peer: a suspicion that expires between two looks must not drop a replica.
  const away = new Set(health === undefined ? [] : others.filter((n) => health.suspect(n)))
  const ordered = [...others.filter((n) => !away.has(n)), ...others.filter((n) => away.has(n))]
  return replicas.includes(self) ? [self, ...ordered] : ordered
}

/** One peer's part in a phase: its answer or why it has none. */
export interface Settled<T> {
  node: string
  value?: T
  error?: unknown
}

export async function settle<T>(
  nodes: readonly string[],
  call: (node: string) => Promise<T>,
): Promise<Array<Settled<T>>> {
  const results = await Promise.allSettled(nodes.map((n) => call(n)))
  return results.map((r, i) =>
    r.status === 'fulfilled' ? { node: nodes[i]!, value: r.value } : { node: nodes[i]!, error: r.reason },
  )
}

/** A failure's fine code, never its message (which may carry internals). */
/**
 * `work`'s answer, or once the caller went away (`signal` aborted) the caller's reason instead of
 * its failure: the exchanges the abort cut short fail too (QUORUM_NOT_REACHED, NODE_UNAVAILABLE),
 * which is no verdict on the peers, and the call's answer, metric and audit entry must say why it
 * ended.
 */
export async function unlessCallerLeft<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  try {
    return await work
  } catch (err) {
    signal?.throwIfAborted()
    throw err
  }
}

export function codeOf(err: unknown): string {
  return err instanceof QfsError ? err.code : 'INTERNAL'
}

/** One exchange with `node` under its deadline; the outcome feeds the health record. */
export async function ask<T>(
  ctx: EngineContext,
  node: string,
  signal: AbortSignal | undefined,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  try {
    const value = await underRequestDeadline(ctx, signal, call)
    ctx.health?.answered(node)
    return value
  } catch (err) {
    // The caller giving up says nothing about the peer.
    if (signal?.aborted !== true) ctx.health?.failed(node, codeOf(err))
    throw err
  }
}

export interface SettleAskingOptions<T> {
  /** The caller's own signal (giving up on the whole operation). */
  signal?: AbortSignal
  /** Whether these answers give the phase what it needs without the peers still out. */
  enough: (answers: ReadonlyArray<Settled<NoInfer<T>>>) => boolean
  /** Peers never cut off, suspect or not: their answer does more than the phase's `enough` counts. */
  keep?: (node: string) => boolean
  /**
   * Peers the same operation cut off before (an earlier or a concurrent phase, a sibling shard): they
   * just had a grace and did not answer, so they get only CUT_AGAIN_MS. Peers cut off here are
   * added; a peer that answers here is removed (it is alive, and gets the full grace again).
   */
  cutBefore?: Set<string>
}

/**
 * `settle` for one phase of a write or a lookup, where a frozen peer must not hold the phase for a
 * whole request deadline once the phase can do without it. Every peer is asked. Peers that lately
 * failed to answer (health.suspect, looked at once) are waited for as long as any other peer is
 * still out or `enough` does not hold; from then on they get `suspectGraceMs` more and are cut off
 * with CUT_SHORT. A cut-off is no evidence about the peer: it is not reported to health, so a slow
 * but healthy peer's suspicion ends on time and the next phase waits its full deadline again. With
 * no suspect peer this is exactly `settle`, and the deadline of each exchange is unchanged (`ask`).
 *
 * `call` gets the signal to hand to `ask` (or to abort the exchange with), which carries the cut-off.
 */
export async function settleAsking<T>(
  ctx: EngineContext,
  nodes: readonly string[],
  options: SettleAskingOptions<T>,
  call: (node: string, signal: AbortSignal | undefined) => Promise<T>,
): Promise<Array<Settled<T>>> {
  const { signal, enough, keep, cutBefore } = options
  const away = new Set(nodes.filter((n) => keep?.(n) !== true && ctx.health?.suspect(n) === true))
  if (away.size === 0) return settle(nodes, (n) => call(n, signal))
  const results: Array<Settled<T> | undefined> = nodes.map(() => undefined)
  const cuts = nodes.map(() => new AbortController())
  let grace: ReturnType<typeof setTimeout> | undefined
  const cutOff = () => {
    for (const [i, node] of nodes.entries()) {
      if (results[i] !== undefined) continue
      cutBefore?.add(node)
      cuts[i]!.abort(new CutShortError(`${node} was cut short: suspect, not needed`))
    }
  }
  const check = () => {
    if (grace !== undefined) return
    if (nodes.some((n, i) => results[i] === undefined && !away.has(n))) return
    const answered = results.filter((r) => r !== undefined)
    if (answered.length === nodes.length || !enough(answered)) return
    const again = nodes.every((n, i) => results[i] !== undefined || cutBefore?.has(n) === true)
    const full = ctx.timeouts.suspectGraceMs ?? DEFAULT_SUSPECT_GRACE_MS
    grace = setTimeout(cutOff, again ? Math.min(full, CUT_AGAIN_MS) : full)
  }
  check()
  await Promise.all(
    nodes.map(async (node, i) => {
      const cut = cuts[i]!.signal
      try {
        const value = await call(node, signal === undefined ? cut : AbortSignal.any([signal, cut]))
        results[i] = { node, value }
        cutBefore?.delete(node)
      } catch (error) {
        results[i] = { node, error: cut.aborted && signal?.aborted !== true ? cut.reason : error }
      }
      check()
    }),
  )
  clearTimeout(grace)
  return results as Array<Settled<T>>
}
