import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { verifyStorageProof } from '../../src/core/proof.js'
import type { StorageEvent } from '../../src/log/index.js'
import { openLogSublevels, readEvents } from '../../src/log/log-store.js'
import { readNodeId } from '../../src/node/identity.js'
import { liveNetwork, liveNodeState, networkHash, replayNetwork } from '../../src/replay/index.js'
import type { NodeState } from '../../src/replay/state.js'
import type { QfsClient } from '../../src/sdk/index.js'
import { openNodeDb, type RootDb, storeSublevels } from '../../src/store/index.js'
import { type Attempt, content, DEFINITE_FAILURES, type Ledger, WRITE_ANSWERS } from './crash-workload.js'

/**
 * The checks of test/e2e/devnet-crash.test.ts once every node is up again (what was served) and
 * once they are stopped (what their logs replay to). Each collects every problem it finds as a
 * sentence, so one run shows them all.
 */

const BIN = fileURLToPath(new URL('../../bin/qfs-node.js', import.meta.url))
const run = promisify(execFile)

/** What the nodes serve for one (object, version): the one hash_commit readable or listed, if any. */
export interface Served {
  readable: Map<string, string>
  listed: Map<string, string>
  problems: string[]
  reads: number
  proofs: number
  /** Time spent on proofs, summed over the versions checked at once. */
  proofMs: number
  /** Versions readable whose only answers were NODE_UNAVAILABLE (not a promise of the docs; reported). */
  unavailableButWritten: string[]
}

const key = (oid: string, version: number) => `${oid}/${version}`
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0

/**
 * Reads every version any writer tried through every node: an acknowledged one must come back
 * byte-identical with its hash_commit everywhere, and every proof of its shards must verify; any
 * version may show at most one hash_commit across nodes, whose bytes are a content some writer sent
 * there without a definite failure for every attempt of it.
 */
export async function checkReads(
  clients: Map<string, QfsClient>,
  nodeIds: readonly string[],
  ledger: Ledger,
  /** An answer outside WRITE_ANSWERS that the faults of the run explain (it is still checked as what it says). */
  excused: (a: Attempt) => boolean = () => false,
): Promise<Served> {
  const served: Served = {
    readable: new Map(),
    listed: new Map(),
    problems: [],
    reads: 0,
    proofs: 0,
    proofMs: 0,
    unavailableButWritten: [],
  }
  const problem = (s: string) => served.problems.push(s)
  for (const a of ledger.attempts) {
    if (!WRITE_ANSWERS.has(a.code) && !excused(a))
      problem(`${key(a.oid, a.version)}: a write answered ${a.code}: ${a.detail}`)
  }
  const unavailable = new Set<string>()
  await inPool([...ledger.versions()], READ_CONCURRENCY, async ([k, { oid, version, labels }]) => {
    const acked = [...labels.values()].flat().filter((a) => a.code === 'ok')
    const ackedHashes = new Set(acked.map((a) => a.hash_commit!))
    if (ackedHashes.size > 1) problem(`${k}: acknowledged with ${ackedHashes.size} hash_commits`)
    // One content only (one writer, or two sending the same bytes): the same write again completes or
    // confirms it (docs/sdk.md), and with every earlier version acknowledged nothing can refuse it.
    if (labels.size === 1) {
      const refused = [...labels.values()]
        .flat()
        .filter((a) => a.code === 'VERSION_CONFLICT' || a.code === 'INVALID_VERSION')
      if (refused.length > 0) problem(`${k}: one content only, yet refused: ${codes(refused)}`)
    }
    const bytesOf = new Map([...labels].map(([label, tries]) => [label, content(label, tries[0]!.size)]))
    const hashes = new Set<string>()
    let verified: Extract<Awaited<ReturnType<QfsClient['getContent']>>, { ok: true }> | undefined
    for (const node of nodeIds) {
      const client = clients.get(node)!
      const read = await client.getContent(oid, version, { signal: AbortSignal.timeout(30_000) })
      served.reads++
      if (!read.ok) {
        if (acked.length > 0) problem(`${k}: acknowledged, but reading through ${node} answers ${read.code}`)
        continue
      }
      hashes.add(read.hash_commit)
      const label = [...bytesOf].find(([, b]) => same(b, read.content_bytes))?.[0]
      if (label === undefined) {
        problem(`${k}: ${node} serves ${read.content_bytes.length} bytes no writer sent there`)
        continue
      }
      const tries = labels.get(label)!
      if (tries.every(definite)) {
        problem(
          `${k}: readable through ${node} as content ${label}, every write of which failed for good: ${codes(tries)}`,
        )
      }
      if (tries.every((a) => a.code === 'NODE_UNAVAILABLE')) unavailable.add(k)
      if (acked.length > 0 && !ackedHashes.has(read.hash_commit)) {
        problem(`${k}: ${node} serves hash_commit ${read.hash_commit}, not the acknowledged one`)
      }
      if (acked.length > 0) verified ??= read
    }
    // Every node has read the version, so each proof is checked against a record of a verified read.
    if (verified !== undefined) {
      const t = Date.now()
      served.proofs += await checkProofs(clients, nodeIds, verified, problem)
      served.proofMs += Date.now() - t
    }
    if (hashes.size > 1) problem(`${k}: ${hashes.size} different hash_commits readable`)
    if (hashes.size === 1) served.readable.set(k, [...hashes][0]!)
  })
  served.unavailableButWritten.push(...unavailable)
  return served
}

/** Versions checked at once: the reads of one version go through the nodes one after the other. */
const READ_CONCURRENCY = 4

async function inPool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!)
  }
  await Promise.all(Array.from({ length: width }, worker))
}

/**
 * Whether an answer says the write took no effect. VERSION_CONFLICT is held to it whatever was killed:
 * a coordinator answers a refusal only when the homes' own refusals leave the record short of a
 * majority (docs/consistency.md, step 2), never when a silent home could complete it.
 */
function definite(a: Attempt): boolean {
  return DEFINITE_FAILURES.has(a.code)
}

const codes = (tries: Attempt[]) => tries.map((a) => `${a.code} via ${a.via.slice(-6)}`).join(', ')

/** One proof of every non-empty shard, each through another node, verified by the SDK and by the core. */
async function checkProofs(
  clients: Map<string, QfsClient>,
  nodeIds: readonly string[],
  read: {
    object_id: string
    version: number
    proofs: Array<{ shard_id: string; shard_index: number; merkle_root: string; leaf_count: number }>
  },
  problem: (s: string) => void,
): Promise<number> {
  let n = 0
  for (const shard of read.proofs) {
    if (shard.leaf_count === 0) continue
    const via = nodeIds[(read.version + shard.shard_index) % nodeIds.length]!
    const leafIndex = (read.version * 7 + shard.shard_index) % shard.leaf_count
    const answer = await clients
      .get(via)!
      .getStorageProof(read.object_id, read.version, shard.shard_id, { leafIndex })
    n++
    const where = `${read.object_id}/${read.version} shard ${shard.shard_index} via ${via}`
    if (!answer.ok) {
      problem(`${where}: proof answers ${answer.code}`)
      continue
    }
    const verdict = verifyStorageProof(answer.proof, {
      merkleRoot: shard.merkle_root,
      shardId: shard.shard_id,
      leafIndex,
    })
    if (!verdict.ok) problem(`${where}: proof does not verify: ${verdict.reason}`)
  }
  return n
}

/**
 * Lists everything through every node (every page): each version listed anywhere has one
 * hash_commit, the one it reads as when readable; an acknowledged one is listed by every node.
 */
export async function checkListings(
  clients: Map<string, QfsClient>,
  nodeIds: readonly string[],
  ledger: Ledger,
  served: Served,
): Promise<void> {
  const problem = (s: string) => served.problems.push(s)
  const ours = ledger.versions()
  const perNode = new Map<string, Map<string, string>>()
  for (const node of nodeIds) {
    const seen = new Map<string, string>()
    let after: { object_id: string; version: number } | undefined
    for (;;) {
      const page = await clients.get(node)!.listObjects({ limit: 1000, after })
      if (!page.ok) {
        problem(`listing through ${node} answers ${page.code}`)
        break
      }
      for (const o of page.objects) seen.set(key(o.object_id, o.version), o.hash_commit)
      if (page.next_cursor === null) break
      after = page.next_cursor
    }
    perNode.set(node, seen)
  }
  for (const [node, seen] of perNode) {
    for (const [k, hash] of seen) {
      if (!ours.has(k)) problem(`${node} lists ${k}, which no writer tried`)
      const before = served.listed.get(k)
      if (before !== undefined && before !== hash) problem(`${k}: listed with two hash_commits`)
      served.listed.set(k, hash)
      const readable = served.readable.get(k)
      if (readable !== undefined && readable !== hash)
        problem(`${k}: listed by ${node} as ${hash}, reads as ${readable}`)
    }
  }
  for (const a of ledger.acknowledged()) {
    for (const [node, seen] of perNode) {
      const k = key(a.oid, a.version)
      if (seen.get(k) !== a.hash_commit) problem(`${k}: acknowledged, listed by ${node} as ${seen.get(k)}`)
    }
  }
  for (const k of served.readable.keys()) {
    if (!served.listed.has(k)) problem(`${k}: readable but listed by no node`)
  }
}

/** `qfs-node replay --dir D --json` and `qfs-node log verify --dir D --json` on a stopped node. */
export async function checkNodeDirOffline(dir: string): Promise<string[]> {
  const problems: string[] = []
  for (const args of [
    ['replay', '--dir', dir, '--json'],
    ['log', 'verify', '--dir', dir, '--json'],
  ]) {
    const name = `qfs-node ${args.slice(0, -3).join(' ')} on ${dir}`
    try {
      const { stdout } = await run(process.execPath, [BIN, ...args], { maxBuffer: 16 * 1024 * 1024 })
      const verdict = JSON.parse(stdout) as { equal?: boolean; ok?: boolean }
      if (args[0] === 'replay' ? verdict.equal !== true : verdict.ok !== true)
        problems.push(`${name}: ${stdout.slice(0, 400)}`)
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string }
      problems.push(
        `${name}: exit ${e.code}: ${(e.stdout ?? '').slice(0, 400)} ${(e.stderr ?? '').slice(0, 400)}`,
      )
    }
  }
  return problems
}

/**
 * The network's catalogue rebuilt from the five stopped nodes' logs (docs/audit-log.md "Replay"),
 * as a map (object/version → hash_commit), after checking it equals the one their live stores give.
 */
export async function replayedCatalogue(dirs: readonly string[]): Promise<{
  catalogue: Map<string, string>
  liveEqualsReplayed: boolean
}> {
  const live: NodeState[] = []
  const dbs: RootDb[] = []
  try {
    const events: Array<{ nodeId: string; events: StorageEvent[] }> = []
    for (const dir of dirs) {
      const db = (await openNodeDb(join(dir, 'db'))) as unknown as RootDb
      dbs.push(db)
      const nodeId = await readNodeId(dir)
      events.push({ nodeId, events: await collect(readEvents(openLogSublevels(db).events)) })
      live.push(await liveNodeState(nodeId, storeSublevels(db)))
    }
    const replayed = await replayNetwork(events)
    const catalogue = new Map(replayed.catalogue.map((e) => [key(e.object_id, e.version), e.hash_commit]))
    return { catalogue, liveEqualsReplayed: networkHash(replayed) === networkHash(liveNetwork(live)) }
  } finally {
    for (const db of dbs) await db.close().catch(() => {})
  }
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of items) out.push(item)
  return out
}
