import { QfsError } from '../core/errors.js'
import type { PeerHealth } from './peer-health.js'
import type { NodeTransport } from './transport.js'

export interface EngineTimeouts {
  /** One request/response exchange with a node (records, manifests, proofs, commits). */
  requestMs: number
  /** Longest pause allowed while streaming a shard to or from a replica. */
  streamIdleMs: number
}

export const DEFAULT_TIMEOUTS: EngineTimeouts = { requestMs: 10_000, streamIdleMs: 30_000 }

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
export function requestSignal(ctx: EngineContext, signal?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(ctx.timeouts.requestMs)
  return signal === undefined ? timeout : AbortSignal.any([signal, timeout])
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

export async function settle<T>(
  nodes: readonly string[],
  call: (node: string) => Promise<T>,
): Promise<Array<{ node: string; value?: T; error?: unknown }>> {
  const results = await Promise.allSettled(nodes.map((n) => call(n)))
  return results.map((r, i) =>
    r.status === 'fulfilled' ? { node: nodes[i]!, value: r.value } : { node: nodes[i]!, error: r.reason },
  )
}

/** A failure's fine code, never its message (which may carry internals). */
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
    const value = await call(requestSignal(ctx, signal))
    ctx.health?.answered(node)
    return value
  } catch (err) {
    // The caller giving up says nothing about the peer.
    if (signal?.aborted !== true) ctx.health?.failed(node, codeOf(err))
    throw err
  }
}
