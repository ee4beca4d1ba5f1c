import { DeterministicTime } from '../../src/core/time.js'
import type { EngineTimeouts } from '../../src/engine/context.js'
import { StorageEngine, type StorageEngineInit } from '../../src/engine/engine.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import type { InProcessTransport } from '../../src/engine/in-process.js'
import type { PeerHealth } from '../../src/engine/peer-health.js'
import type { inProcessHarness } from './harness.js'

/** Fault and timing doubles for the tests of cut-offs (context.ts `settleAsking`). */

export type Harness = Awaited<ReturnType<typeof inProcessHarness>>

/** An engine coordinating from `nodeId` of the harness with its own health record and timeouts. */
export function coordinatorEngine(
  h: Harness,
  nodeId: string,
  health: PeerHealth,
  timeouts: EngineTimeouts,
): StorageEngine {
  return engineWith(h, nodeId, health, { timeouts })
}

/** An engine on `nodeId` of the harness with its own health record and settings. */
export function engineWith(
  h: Harness,
  nodeId: string,
  health: PeerHealth,
  init: StorageEngineInit,
): StorageEngine {
  return new StorageEngine(
    {
      nodeId,
      transport: h.net.transport,
      membership: h.net.membership,
      log: h.net.node(nodeId).log,
      time: new DeterministicTime(),
      health,
    },
    init,
  )
}

export /** A health record that remembers every report, over a fixed set of suspects. */
function spyHealth(suspects: Iterable<string>): PeerHealth & { reports: string[] } {
  const away = new Set(suspects)
  const reports: string[] = []
  return {
    reports,
    failed: (n, c) => reports.push(`${n}:${c}`),
    answered: (n) => reports.push(`${n}:ok`),
    suspect: (n) => away.has(n),
  }
}

export /** A promise that settles only when `signal` aborts, with its reason: a frozen peer. */
function frozen<T>(signal: AbortSignal | undefined): Promise<T> {
  return new Promise<T>((_, reject) => {
    if (signal === undefined) return
    if (signal.aborted) reject(signal.reason)
    signal.addEventListener('abort', () => reject(signal.reason), { once: true })
  })
}

/**
 * A frozen peer as the libp2p transport reports it: the exchange fails when its signal aborts, with
 * the abort reason wrapped as NODE_UNAVAILABLE (net/dial.ts `exchangeFailure`), whatever the reason.
 */
export function frozenPeer<T>(node: string, signal: AbortSignal): Promise<T> {
  return frozen<T>(signal).catch((reason: unknown) => {
    throw new NodeUnavailableError(`${node} did not answer properly`, { cause: reason })
  })
}

/** Makes every exchange with `node` hang until its deadline or cut-off, as a SIGSTOPped daemon does. */
export function freeze(transport: InProcessTransport, node: string): () => void {
  const t = transport as unknown as Record<string, (...args: unknown[]) => unknown>
  const saved = new Map<string, (...args: unknown[]) => unknown>()
  const withOptions: Record<string, number> = {
    stageShards: 2,
    commitVersion: 2,
    abortStaging: 2,
    getRecord: 3,
    getManifest: 2,
    listRecords: 2,
  }
  for (const [name, at] of Object.entries(withOptions)) {
    const original = t[name]!.bind(transport)
    saved.set(name, t[name]!)
    t[name] = (...args: unknown[]) => {
      if (args[0] !== node) return original(...args)
      const signal = (args[at] as { signal?: AbortSignal } | undefined)?.signal
      return frozenPeer(node, signal ?? AbortSignal.timeout(200))
    }
  }
  // Opening a small shard reaches no peer over libp2p (it travels whole at finish): only the finish hangs.
  saved.set('openShard', t.openShard!)
  const open = t.openShard!.bind(transport)
  t.openShard = (...args: unknown[]) => {
    if (args[0] !== node) return open(...args)
    return Promise.resolve({
      write: async () => {},
      finish: (options?: { signal?: AbortSignal }) =>
        frozenPeer(node, options?.signal ?? AbortSignal.timeout(200)),
      abort: async () => {},
    })
  }
  return () => {
    for (const [name, fn] of saved) t[name] = fn
  }
}

/** Replaces one transport method for calls to `node`; returns the undo. */
export function intercept(
  transport: InProcessTransport,
  name: 'stageShards' | 'commitVersion' | 'openShard' | 'getRecord',
  node: string,
  fn: (original: (...a: unknown[]) => Promise<unknown>, ...args: unknown[]) => Promise<unknown>,
): () => void {
  const t = transport as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>
  const saved = t[name]!
  const original = saved.bind(transport)
  t[name] = (...args: unknown[]) => (args[0] === node ? fn(original, ...args) : original(...args))
  return () => {
    t[name] = saved
  }
}

/** A live but slow peer: it answers after `ms`, unless its exchange is aborted first. */
export function slowly(node: string, ms: number, optionsAt = 2) {
  return async (original: (...a: unknown[]) => Promise<unknown>, ...args: unknown[]) => {
    const signal =
      (args[optionsAt] as { signal?: AbortSignal } | undefined)?.signal ?? AbortSignal.timeout(5_000)
    await Promise.race([new Promise((r) => setTimeout(r, ms)), frozenPeer(node, signal)])
    return original(...args)
  }
}

export const unreachable = (node: string) => async () => {
  throw new NodeUnavailableError(`${node} is unreachable`)
}
