import { afterEach, beforeEach } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { EligibleSet } from '../../src/core/placement.js'
import type { StorageEngine, StorageEngineInit } from '../../src/engine/engine.js'
import type { InProcessTransport } from '../../src/engine/in-process.js'
import { type PeerHealth, RecentFailures } from '../../src/engine/peer-health.js'
import type { CommitRequest } from '../../src/engine/transport.js'
import { engineWith, type Harness } from './cut-short-helpers.js'
import { inProcessHarness } from './harness.js'

export type { Harness }

/** Fault doubles and finders for the tests of docs/consistency.md (consistency-claims.test.ts). */

/** A point a test lets exchanges through. */
export interface Gate {
  opened: Promise<void>
  open(): void
}

export function gate(): Gate {
  let open!: () => void
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { opened, open }
}

type Method =
  | 'commitVersion'
  | 'stageShards'
  | 'abortStaging'
  | 'getRecord'
  | 'fetchShard'
  | 'listRecords'
  | 'openShard'

/** Replaces one transport method for every node; `fn` gets the original. Returns the undo. */
export function wrapAll(
  transport: InProcessTransport,
  name: Method,
  fn: (original: (...args: unknown[]) => unknown, node: string, ...rest: unknown[]) => unknown,
): () => void {
  const t = transport as unknown as Record<string, (...args: unknown[]) => unknown>
  const saved = t[name]!
  const original = saved.bind(transport)
  t[name] = (node: unknown, ...rest: unknown[]) => fn(original, node as string, ...rest)
  return () => {
    t[name] = saved
  }
}

export interface Placed {
  oid: string
  homes: string[]
  /** Replicas of each shard of `version`, by shard index. */
  replicas: string[][]
}

/** The first object (by label) whose homes and placements at `version` satisfy `fits`. */
export function findObject(
  nodeIds: readonly string[],
  label: string,
  fits: (placed: Placed) => boolean,
  version = 1,
): Placed {
  const eligible = new EligibleSet(nodeIds)
  for (let i = 0; i < 10_000; i++) {
    const oid = objectId('claims', `${label}-${i}`)
    const placed = {
      oid,
      homes: eligible.catalogueHomes(oid, 3),
      replicas: [0, 1, 2, 3].map((k) => eligible.place(shardId(oid, version, k), 3).selected),
    }
    if (fits(placed)) return placed
  }
  throw new Error(`no object fits ${label}`)
}

/**
 * An engine on `nodeId` with its own health record, keeping no decided records unless told to: a
 * read through it asks the homes, as the claim under test needs.
 */
export function engineOn(
  h: Harness,
  nodeId: string,
  init: StorageEngineInit = {},
  health: PeerHealth = new RecentFailures(),
): StorageEngine {
  return engineWith(h, nodeId, health, {
    decidedRecordsKept: 0,
    timeouts: { requestMs: 5_000, streamIdleMs: 5_000 },
    ...init,
  })
}

/** Finished staged shards a node holds (of one object, when given). */
export async function stagedOn(h: Harness, nodeId: string, oid?: string): Promise<number> {
  const stale = await h.net.node(nodeId).store.staleStaged(0)
  return stale.filter((s) => oid === undefined || s.objectId === oid).length
}

/** The record a node keeps for a version, if any. */
export function recordAt(h: Harness, nodeId: string, oid: string, version: number) {
  return h.net.node(nodeId).service.getRecord(oid, version)
}

/**
 * Orders the decides of racing writers of one version: once every writer has offered its record
 * (each past its preflight, so none refuses early), the writer that claims a home reaches it
 * before any other writer's offer does. Writers are told apart by their record's timestamp_tick.
 * Homes nobody claims take offers as they come. Returns the undo.
 */
export function orderDecides(
  transport: InProcessTransport,
  target: { oid: string; version: number; homes: readonly string[] },
  claims: ReadonlyArray<{ tick: number; homes: readonly string[] }>,
): () => void {
  const arrived = new Set<number>()
  const everyone = gate()
  const first = new Map<string, { tick: number; done: Gate }>()
  for (const c of claims) for (const home of c.homes) first.set(home, { tick: c.tick, done: gate() })
  return wrapAll(transport, 'commitVersion', async (original, node, ...rest) => {
    const { record } = rest[0] as CommitRequest
    const ours =
      target.homes.includes(node) && record.object_id === target.oid && record.version === target.version
    if (!ours) return original(node, ...rest)
    arrived.add(record.timestamp_tick)
    if (arrived.size === claims.length) everyone.open()
    await everyone.opened
    const claim = first.get(node)
    if (claim !== undefined && claim.tick !== record.timestamp_tick) await claim.done.opened
    try {
      return await original(node, ...rest)
    } finally {
      if (claim?.tick === record.timestamp_tick) claim.done.open()
    }
  })
}

/** Until `probe` holds, polling; fails after about two seconds. */
export async function eventually(probe: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await probe()) return
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error('condition not reached')
}

export function expectOk<T extends { ok: boolean }>(r: T): asserts r is Extract<T, { ok: true }> {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r)}`)
}

export const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b))

/**
 * A fresh in-process network of `nodes` for each test of the file, handed to `use`; the faults a test
 * pushes on `undo` are taken back after it, last first, before the network closes.
 */
export function networkPerTest(use: (h: Harness) => void, undo: Array<() => void>, nodes = 5): void {
  let current: Harness | undefined
  beforeEach(async () => {
    current = await inProcessHarness(nodes)
    use(current)
  })
  afterEach(async () => {
    for (const u of undo.splice(0).reverse()) u()
    await current?.close()
    current = undefined
  })
}

/**
 * A test file's cleanup after each test: undoes the patches pushed on `undo` (last first), closes
 * the harness, and answers undefined for the file's harness variable (`h = await afterTest(h, undo)`).
 */
export async function afterTest(h: Harness | undefined, undo: Array<() => void>): Promise<undefined> {
  for (const u of undo.splice(0).reverse()) u()
  await h?.close()
  return undefined
}
