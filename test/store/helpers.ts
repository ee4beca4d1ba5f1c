import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryLevel } from 'memory-level'
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest'
import { atrCost } from '../../src/core/atr.js'
import { compareBytes, fromHex, toHex } from '../../src/core/bytes.js'
import { hashCommit } from '../../src/core/commit.js'
import { objectId, shardId } from '../../src/core/ids.js'
import { metadataSeed, normalizeMetadata } from '../../src/core/metadata.js'
import { type ProtocolParams, validateParams } from '../../src/core/params.js'
import type { VersionKind, VersionRecord } from '../../src/core/record.js'
import type { CommitRole, IndexEntry, PreparedCommit } from '../../src/store/commit.js'
import { openNodeDb, type RootDb } from '../../src/store/db.js'
import type { ShardHeader } from '../../src/store/staging.js'
import { ShardStore } from '../../src/store/store.js'
import { oracleLeafHash, oracleRoot } from '../helpers/rfc9162.js'

/** Small blocks so shards have several leaves at a few KiB. */
export const TEST_PARAMS: ProtocolParams = validateParams({
  blockSizeBytes: 1024,
  numShardsPerObject: 4,
  replicationFactor: 3,
  schemaVersion: 1,
})

export const NODES = ['node-a', 'node-b', 'node-c']

export interface Backend {
  name: string
  open(): Promise<{ db: RootDb; cleanup(): Promise<void> }>
}

export const memoryBackend: Backend = {
  name: 'memory-level',
  async open() {
    const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
    await db.open()
    return { db: db as unknown as RootDb, cleanup: () => db.close() }
  },
}

export const classicBackend: Backend = {
  name: 'classic-level',
  async open() {
    const dir = await mkdtemp(join(tmpdir(), 'qfs-store-'))
    const db = await openNodeDb(join(dir, 'db'))
    return {
      db: db as unknown as RootDb,
      async cleanup() {
        await db.close()
        await rm(dir, { recursive: true, force: true })
      },
    }
  },
}

/**
 * A ShardStore with `params` over a fresh database of `backend`, opened before the suite's tests
 * (`each`: before each test, on a database of its own) and closed with its database after them.
 * Call inside a describe; read `.store` in the tests.
 */
export function openedStore(
  backend: Backend,
  params: ProtocolParams = TEST_PARAMS,
  scope: 'each' | 'all' = 'all',
): { readonly store: ShardStore } {
  let store: ShardStore | undefined
  let cleanup: (() => Promise<void>) | undefined
  const [before, after] = scope === 'each' ? [beforeEach, afterEach] : [beforeAll, afterAll]
  before(async () => {
    const opened = await backend.open()
    cleanup = opened.cleanup
    store = new ShardStore({ db: opened.db }, { params })
    await store.open()
  })
  after(async () => {
    await store?.close()
    await cleanup?.()
  })
  return {
    get store() {
      if (store === undefined) throw new Error('the store opens before the tests')
      return store
    },
  }
}

/** Deterministic bytes (xorshift32): test content, not protocol data. */
export function pseudoBytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 0x9e3779b9
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

export function testObjectId(name: string): string {
  return objectId('store-tests', name)
}

export interface VersionInput {
  objectId: string
  version: number
  content: Uint8Array
  kind?: VersionKind
  tags?: string[]
  author?: string
  tick?: number
  params?: ProtocolParams
}

export interface BuiltVersion {
  record: VersionRecord
  shards: Array<{ header: ShardHeader; bytes: Uint8Array }>
}

/**
 * A valid record for `content`, its shard roots computed by the RFC 9162 oracle on @noble/hashes
 * (independent of the store's and the core's Merkle code).
 */
export function buildVersion(input: VersionInput): BuiltVersion {
  const params = input.params ?? TEST_PARAMS
  const { content, version } = input
  const metadata = normalizeMetadata({
    author_node_id: input.author ?? 'author-1',
    created_at_tick: input.tick ?? version,
    tags: input.tags ?? [],
  })
  const commit = toHex(hashCommit(content, params.schemaVersion, metadataSeed(metadata)))
  const n = params.numShardsPerObject
  const size = Math.ceil(content.length / n)
  const shards: BuiltVersion['shards'] = []
  const descriptors: VersionRecord['shards'] = []
  for (let i = 0; i < n; i++) {
    const bytes = content.subarray(
      Math.min(i * size, content.length),
      Math.min((i + 1) * size, content.length),
    )
    const blocks: Uint8Array[] = []
    for (let off = 0; off < bytes.length; off += params.blockSizeBytes) {
      blocks.push(bytes.subarray(off, off + params.blockSizeBytes))
    }
    const id = shardId(input.objectId, version, i)
    descriptors.push({
      shard_index: i,
      shard_id: id,
      length: bytes.length,
      leaf_count: blocks.length,
      merkle_root: toHex(oracleRoot(blocks.map(oracleLeafHash))),
      replicas: [...NODES],
    })
    shards.push({
      header: {
        objectId: input.objectId,
        version,
        shardIndex: i,
        shardId: id,
        length: bytes.length,
        blockSizeBytes: params.blockSizeBytes,
      },
      bytes,
    })
  }
  const record: VersionRecord = {
    object_id: input.objectId,
    version,
    kind: input.kind ?? (version === 1 ? 'STORE' : 'UPDATE'),
    hash_commit: commit,
    content_size: content.length,
    metadata,
    schema_version: params.schemaVersion,
    block_size_bytes: params.blockSizeBytes,
    epoch: 1,
    timestamp_tick: input.tick ?? version,
    atr_cost: atrCost(content.length, n, params.replicationFactor).toString(),
    shards: descriptors,
    catalogue_homes: [...NODES],
  }
  return { record, shards }
}

/** Stages every shard of a version in chunks of `chunk` bytes; returns the commit role's shard list. */
export async function stageAll(
  store: ShardStore,
  built: BuiltVersion,
  chunk = 700,
): Promise<CommitRole['shards']> {
  const out: CommitRole['shards'] = []
  for (const s of built.shards) {
    const writer = await store.beginShard(s.header)
    for (let off = 0; off < s.bytes.length; off += chunk)
      await writer.write(s.bytes.subarray(off, off + chunk))
    const staged = await writer.finish()
    out.push({ shardId: staged.shardId, stagingId: staged.stagingId })
  }
  return out
}

/** prepareCommit and its batch under the store's write lock, as the node service does. */
export function commitLocked(store: ShardStore, record: unknown, role: CommitRole): Promise<PreparedCommit> {
  return store.writeLock.run(async () => {
    const prepared = await store.prepareCommit(record, role)
    await store.commit(prepared)
    return prepared
  })
}

/** Stages and commits a whole version as a home holding every shard. */
export async function storeVersion(
  store: ShardStore,
  built: BuiltVersion,
  home = true,
): Promise<PreparedCommit> {
  return commitLocked(store, built.record, { home, shards: await stageAll(store, built) })
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of source) parts.push(p)
  return new Uint8Array(Buffer.concat(parts))
}

export const CATALOGUE_TAGS = ['alpha', 'beta', 'gamma']
export const CATALOGUE_AUTHORS = ['author-1', 'author-2']

/**
 * Commits `objects` objects named `${name}-${o}` with 1 to 3 versions each, metadata-only (no
 * shards): tags where (o + v + i) % tagEvery === 0, two authors, ticks spread over 0..49; every
 * fifth object is kept only as a holder (home: false). The listing tests' catalogue.
 */
export async function seedCatalogue(
  store: ShardStore,
  init: { name: string; objects: number; contentBytes: number; tagEvery: number },
): Promise<void> {
  for (let o = 0; o < init.objects; o++) {
    const objectId = testObjectId(`${init.name}-${o}`)
    for (let v = 1; v <= 1 + (o % 3); v++) {
      const built = buildVersion({
        objectId,
        version: v,
        content: pseudoBytes(o * 10 + v, init.contentBytes),
        tags: CATALOGUE_TAGS.filter((_, i) => (o + v + i) % init.tagEvery === 0),
        author: CATALOGUE_AUTHORS[(o * v) % 2],
        tick: (o * 7 + v * 3) % 50,
      })
      await commitLocked(store, built.record, { home: o % 5 !== 4, shards: [] })
    }
  }
}

/**
 * A memory store seeded with `seedCatalogue`, and its entries in key order as one listing of them
 * all gives them: what each listing test starts from.
 */
export async function catalogueStore(init: Parameters<typeof seedCatalogue>[1]): Promise<{
  store: ShardStore
  all: IndexEntry[]
  close: () => Promise<void>
}> {
  const { db, cleanup } = await memoryBackend.open()
  const store = new ShardStore({ db }, { params: TEST_PARAMS })
  await store.open()
  await seedCatalogue(store, init)
  const all = (await store.listRecords({ limit: 1000 })).entries
  all.sort((a, b) => compareBytes(fromHex(a.object_id), fromHex(b.object_id)) || a.version - b.version)
  return {
    store,
    all,
    close: async () => {
      await store.close()
      await cleanup()
    },
  }
}
