import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { EventLog, type StorageEvent } from '../../src/log/index.js'
import { generateAuditKey } from '../../src/log/keys.js'
import { liveNodeState, replayNodeLog } from '../../src/replay/index.js'
import { decodeIndexKey, openNodeDb, type RootDb, stagingIdOfBlockKey } from '../../src/store/db.js'
import { decodeMarker } from '../../src/store/manifest.js'
import { ShardStore } from '../../src/store/store.js'
import { TEST_PARAMS } from './helpers.js'

// The child's node id and audit key (fixtures/crash-child.mjs).
const NODE_ID = 'node-a'
const AUDIT_KEY = generateAuditKey(new Uint8Array(32).fill(5))

const root = fileURLToPath(new URL('../../', import.meta.url))
const dist = join(root, 'dist')
const child = fileURLToPath(new URL('./fixtures/crash-child.mjs', import.meta.url))

/** The child runs the built output: refuse to test a dist/ that is missing or older than its sources. */
async function assertDistFresh(): Promise<void> {
  const built = join(dist, 'store', 'store.js')
  if (!existsSync(built))
    throw new Error('dist/ is missing: run `npm run build` (npm test does) before this test')
  const sources: string[] = ['engine/node-service.ts']
  for (const folder of ['store', 'log']) {
    for (const name of await readdir(join(root, 'src', folder))) sources.push(`${folder}/${name}`)
  }
  for (const source of sources) {
    const out = join(dist, source.replace(/\.ts$/, '.js'))
    if (!existsSync(out) || statSync(out).mtimeMs < statSync(join(root, 'src', source)).mtimeMs) {
      throw new Error(`dist/${source} is stale: run \`npm run build\` before this test`)
    }
  }
}

// Kill delays (ms after the child reports ready) from a fixed seed: reproducible, yet spread over
// staging, half-written streams and commits.
const DELAYS = [40, 310, 95, 520, 170, 260]

function runChild(dbDir: string, seed: number, delay: number): Promise<{ killed: boolean; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc: ChildProcess = spawn(process.execPath, [child, dist, dbDir, String(seed)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    let timer: NodeJS.Timeout | undefined
    proc.stderr!.on('data', (d) => {
      stderr += String(d)
    })
    proc.stdout!.on('data', (d) => {
      if (timer === undefined && String(d).includes('ready'))
        timer = setTimeout(() => proc.kill('SIGKILL'), delay)
    })
    proc.on('error', reject)
    proc.on('exit', (_code, signal) => {
      clearTimeout(timer)
      resolve({ killed: signal === 'SIGKILL', stderr })
    })
  })
}

async function checkConsistent(db: RootDb): Promise<{ removed: number; versions: number }> {
  const store = new ShardStore({ db }, { params: TEST_PARAMS })
  const { removed } = await store.open()
  const subs = store.sublevels
  // What open() keeps of the staging area is finished shards with every block (for the roll-forward).
  const kept = new Map<string, number>()
  for await (const value of subs.staging.values()) {
    const marker = decodeMarker(value)
    expect(marker.state).toBe('staged')
    kept.set(marker.stagingId, marker.leafHashes.length)
  }

  // Every version in the index has all its manifests, matching its record; versions are 1..latest.
  const manifestOwners = new Map<string, string>()
  const lastVersion = new Map<string, number>()
  let versions = 0
  for await (const [key, value] of subs.index.iterator()) {
    const { objectId, version } = decodeIndexKey(key)
    const entry = value as {
      record: { hash_commit: string; shards: Array<{ shard_id: string; merkle_root: string }> }
    }
    expect(version).toBe((lastVersion.get(objectId) ?? 0) + 1)
    lastVersion.set(objectId, version)
    versions++
    for (const d of entry.record.shards) {
      const m = await store.getManifest(d.shard_id)
      expect(m, `manifest of ${d.shard_id}`).toBeDefined()
      expect(m).toMatchObject({
        objectId,
        version,
        merkleRoot: d.merkle_root,
        hashCommit: entry.record.hash_commit,
      })
      manifestOwners.set(m!.stagingId, d.shard_id)
    }
  }
  // No manifest without its index entry, and every block verifies.
  expect((await subs.manifests.keys().all()).length).toBe(manifestOwners.size)
  const report = await store.scrub()
  expect(report.corrupt).toEqual([])
  // No staged block outlives its marker: every block belongs to a manifest or a kept staged shard,
  // and each of those has exactly its leaf count.
  const blocksPer = new Map<string, number>()
  for await (const key of subs.blocks.keys()) {
    const stagingId = stagingIdOfBlockKey(key)
    expect(manifestOwners.has(stagingId) || kept.has(stagingId), `orphan block under ${stagingId}`).toBe(true)
    blocksPer.set(stagingId, (blocksPer.get(stagingId) ?? 0) + 1)
  }
  for (const [stagingId, shard] of manifestOwners) {
    expect(blocksPer.get(stagingId) ?? 0).toBe((await store.getManifest(shard))!.leafCount)
  }
  for (const [stagingId, leaves] of kept) expect(blocksPer.get(stagingId) ?? 0).toBe(leaves)
  expect(await store.stats()).toEqual(await store.recomputeStats())
  await checkLog(db, store)
  await store.close()
  return { removed, versions }
}

/**
 * The log was committed in the same batches as the data: after the kill, every index entry has
 * exactly one REPLICA_COMMIT entry and the reverse, the log alone rebuilds the live state, and the
 * chain verifies once `open()` has signed the tail the kill left uncovered.
 */
async function checkLog(db: RootDb, store: ShardStore): Promise<void> {
  const log = new EventLog({ db, nodeId: NODE_ID, key: AUDIT_KEY })
  await log.open()
  try {
    const head = log.head()
    expect(head.covered_entries).toBe(head.entries)
    const commits = new Map<string, number>()
    const events: StorageEvent[] = []
    for await (const e of log.iterate()) {
      events.push(e)
      expect(e.event_type).toBe('REPLICA_COMMIT')
      const key = `${e.object_id}/${e.version}`
      commits.set(key, (commits.get(key) ?? 0) + 1)
    }
    const indexed: string[] = []
    for await (const key of store.sublevels.index.keys()) {
      const { objectId, version } = decodeIndexKey(key)
      indexed.push(`${objectId}/${version}`)
    }
    expect([...commits.keys()].sort()).toEqual(indexed.sort())
    expect([...commits.values()].every((n) => n === 1)).toBe(true)
    expect(await replayNodeLog(NODE_ID, events)).toEqual(await liveNodeState(NODE_ID, store))
    expect(await log.verify()).toMatchObject({ ok: true, entries: head.entries })
  } finally {
    await log.close()
  }
}

describe('crash consistency of store and log (child killed with SIGKILL)', () => {
  let dir: string | undefined
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('never leaves a half object, an unfinished staging or an unlogged commit after open()', {
    timeout: 120_000,
  }, async () => {
    await assertDistFresh()
    dir = await mkdtemp(join(tmpdir(), 'qfs-crash-'))
    const dbDir = join(dir, 'db')
    let removedTotal = 0
    let versions = 0
    for (const [i, delay] of DELAYS.entries()) {
      const { killed, stderr } = await runChild(dbDir, 1000 + i, delay)
      expect(killed, `child exited on its own: ${stderr}`).toBe(true)
      const db = await openNodeDb(dbDir)
      try {
        const r = await checkConsistent(db as unknown as RootDb)
        removedTotal += r.removed
        expect(r.versions).toBeGreaterThanOrEqual(versions)
        versions = r.versions
      } finally {
        await db.close()
      }
    }
    // The kills did land mid-way (leftovers were cleaned) and the children did commit.
    expect(removedTotal).toBeGreaterThan(0)
    expect(versions).toBeGreaterThan(0)
  })
})
