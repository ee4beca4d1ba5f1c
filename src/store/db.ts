import { readdir } from 'node:fs/promises'
import type { AbstractBatchOperation, AbstractLevel, AbstractSublevel } from 'abstract-level'
import { Level } from 'level'
import { concatBytes, fromHex, parseId, toHex, u32, u64 } from '../core/bytes.js'
import { InvalidInputError } from '../core/errors.js'
import { DatabaseUnreadableError } from './errors.js'

/**
 * The node's one LevelDB (classic-level in production, memory-level in tests). The store, the log and
 * anything else that must commit atomically with them live in sublevels of this root, because an
 * abstract-level batch is atomic across the sublevels of one root and nowhere else.
 */
// biome-ignore lint/suspicious/noExplicitAny: the root's default encodings belong to its opener; every sublevel sets its own.
export type RootDb = AbstractLevel<string | Buffer | Uint8Array, any, any>

export type BytesSublevel = AbstractSublevel<RootDb, string | Buffer | Uint8Array, Uint8Array, Uint8Array>
export type JsonSublevel = AbstractSublevel<RootDb, string | Buffer | Uint8Array, Uint8Array, unknown>
export type MetaSublevel = AbstractSublevel<RootDb, string | Buffer | Uint8Array, string, unknown>

/** One operation of a root batch; `sublevel` is always set, so it is valid in `db.batch()` of the root. */
export type StoreBatchOp = AbstractBatchOperation<RootDb, unknown, unknown>

/** Opens (creating if needed) the node's LevelDB in `dir` with binary keys and values. */
export async function openNodeDb(dir: string): Promise<Level<Uint8Array, Uint8Array>> {
  if (typeof dir !== 'string' || dir === '') throw new InvalidInputError('database directory must be a path')
  // No Snappy: nearly all bytes are shard blocks of client-encrypted content, which do not
  // compress, and LevelDB tried again at every flush and compaction (measured: about a sixth of a
  // replicated write's CPU).
  await refuseHeadless(dir)
  const db = new Level<Uint8Array, Uint8Array>(dir, {
    keyEncoding: 'view',
    valueEncoding: 'view',
    compression: false,
  })
  await db.open()
  return db
}

/** The files of a LevelDB database (tables, write-ahead logs, manifests), as opposed to LOCK and its info LOG. */
const LEVELDB_DATA_FILE = /^(?:MANIFEST-\d+|\d+\.(?:ldb|sst|log))$/

/**
 * Refuses a database directory that holds LevelDB's data files but no CURRENT (the file naming the
 * manifest in use): LevelDB would create a new, empty database there and, at its first compaction,
 * delete the tables it does not know, which are the node's. DB_UNREADABLE instead, with the way back.
 */
export async function refuseHeadless(dir: string): Promise<void> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return // absent (a first start) or unreadable: LevelDB's own open says which
  }
  if (names.includes('CURRENT')) return
  const data = names.filter((n) => LEVELDB_DATA_FILE.test(n))
  if (data.length === 0) return
  // Manifest numbers grow: the newest is the one that was in use, unless a crash left it half-written.
  const manifests = data
    .filter((n) => n.startsWith('MANIFEST-'))
    .sort((a, b) => Number(a.slice(9)) - Number(b.slice(9)))
  const newest = manifests.at(-1)
  const way =
    newest === undefined
      ? 'restore the data directory from a backup'
      : `if nothing else is damaged, write the newest manifest's name back (echo ${newest} > ${dir}/CURRENT), else restore the data directory from a backup`
  throw new DatabaseUnreadableError(
    `the database in ${dir} has ${data.length} data files but no CURRENT file; opened as it is, LevelDB would start an empty database and delete them: ${way}`,
  )
}

/**
 * The store's key spaces, all under the `store` prefix of the root:
 * - `blocks`:   staging id (16 bytes) || u32(block index) -> block bytes. A shard's blocks stay under
 *               the staging id they were written with; the manifest names it, so committing moves nothing.
 * - `staging`:  staging id -> pending marker. While a marker exists its blocks belong to nobody.
 * - `manifests`: shard id (32 bytes) -> manifest with the leaf hashes.
 * - `index`:    object id (32 bytes) || u64(version) -> { home, record }. Byte order is (object_id,
 *               version) order, so listing pages by seeking, never by scanning from the start.
 * - `meta`:     small named values (the counters behind `stats()`).
 */
export interface StoreSublevels {
  blocks: BytesSublevel
  staging: BytesSublevel
  manifests: BytesSublevel
  index: JsonSublevel
  meta: MetaSublevel
}

export function storeSublevels(db: RootDb): StoreSublevels {
  const bytes = { keyEncoding: 'view', valueEncoding: 'view' } as const
  return {
    blocks: db.sublevel<Uint8Array, Uint8Array>(['store', 'blocks'], bytes),
    staging: db.sublevel<Uint8Array, Uint8Array>(['store', 'staging'], bytes),
    manifests: db.sublevel<Uint8Array, Uint8Array>(['store', 'manifests'], bytes),
    index: db.sublevel<Uint8Array, unknown>(['store', 'index'], {
      keyEncoding: 'view',
      valueEncoding: 'json',
    }),
    meta: db.sublevel<string, unknown>(['store', 'meta'], { keyEncoding: 'utf8', valueEncoding: 'json' }),
  }
}

export const STAGING_ID_BYTES = 16

/**
 * A new staging id: the node's staging sequence number (u64, big-endian) then 8 random bytes. Blocks
 * are keyed by staging id, so ids that grow with time make LevelDB append new blocks at the end of
 * the key space, where its compactions mostly move files down a level instead of rewriting them
 * (random ids made every compaction merge and rewrite block data, which cost a replica more CPU, in
 * LevelDB's background thread, than receiving the blocks). The random half keeps ids unguessable.
 */
export function newStagingId(seq: number, random: Uint8Array): string {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new InvalidInputError('staging seq must be a count')
  if (random.length !== 8) throw new InvalidInputError('staging id takes 8 random bytes')
  return toHex(concatBytes([u64(seq), random]))
}
const STAGING_ID_RE = /^[0-9a-f]{32}$/
const U32_MAX = 0xffffffff

export function isStagingId(value: unknown): value is string {
  return typeof value === 'string' && STAGING_ID_RE.test(value)
}

export function parseStagingId(value: unknown): Uint8Array {
  if (!isStagingId(value)) throw new InvalidInputError('staging id must be 32 lower-case hex characters')
  return fromHex(value)
}

export function blockKey(stagingId: string, blockIndex: number): Uint8Array {
  return concatBytes([parseStagingId(stagingId), u32(blockIndex)])
}

/** The inclusive key range of every block staged under one staging id. */
export function blockRange(stagingId: string): { gte: Uint8Array; lte: Uint8Array } {
  return { gte: blockKey(stagingId, 0), lte: blockKey(stagingId, U32_MAX) }
}

/** The block index of a block key (the last four bytes). */
export function blockIndexOf(key: Uint8Array): number {
  return new DataView(key.buffer, key.byteOffset + key.byteLength - 4, 4).getUint32(0)
}

export function stagingIdOfBlockKey(key: Uint8Array): string {
  return toHex(key.subarray(0, STAGING_ID_BYTES))
}

export function indexKey(objectId: string, version: number): Uint8Array {
  return concatBytes([parseId(objectId, 'object_id'), u64(version)])
}

/** The inclusive key range of every version of one object. */
export function objectRange(objectId: string): { gte: Uint8Array; lte: Uint8Array } {
  const id = parseId(objectId, 'object_id')
  return { gte: concatBytes([id, u64(0)]), lte: concatBytes([id, u64((1n << 64n) - 1n)]) }
}

export function decodeIndexKey(key: Uint8Array): { objectId: string; version: number } {
  if (key.length !== 40) throw new InvalidInputError('index key is not 40 bytes')
  const version = new DataView(key.buffer, key.byteOffset + 32, 8).getBigUint64(0)
  return { objectId: toHex(key.subarray(0, 32)), version: Number(version) }
}
