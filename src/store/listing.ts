import { compareBytes, concatBytes, fromHex, isId, u64 } from '../core/bytes.js'
import { InvalidInputError } from '../core/errors.js'
import { normalizeTag, type StorageMetadata } from '../core/metadata.js'
import { recordWireBytes } from '../core/record.js'
import { type IndexEntry, toIndexEntry } from './commit.js'
import { indexKey, type StoreSublevels } from './db.js'

export interface ListFilters {
  /** Resume strictly after this (object_id, version), the previous page's `next`. */
  after?: { object_id: string; version: number }
  /** 1..1000, default 100. */
  limit?: number
  /** A lower-case hex prefix of object_id (0..64 characters). */
  prefix?: string
  /** Entries whose metadata has this tag (compared in its normal form). */
  tag?: string
  /** Entries whose metadata.author_node_id is exactly this. */
  author?: string
  /** Inclusive bounds on metadata.created_at_tick. */
  tick_from?: number
  tick_to?: number
  /** Only entries this node keeps as a catalogue home. */
  home_only?: boolean
  /** Entries to examine before stopping (see MAX_LIST_SCAN_ENTRIES); at most that, a larger ask is cut to it. */
  scan_budget?: number
  /** Record bytes to answer before stopping (see MAX_LIST_ANSWER_BYTES); at most that, a larger ask is cut to it. */
  max_bytes?: number
}

export interface ListPage {
  /**
   * The matching entries in (object_id, version) order; when `budget_spent`, followed by the entry
   * the scan stopped at, which does NOT match. That entry travels as the last element (not apart)
   * because the node-to-node listing answers plain records: it is how a coordinator learns how far
   * this node got (src/engine/list.ts, docs/protocol.md 4.13).
   */
  entries: IndexEntry[]
  /** The cursor for the next page (the last entry examined), or null when the range is exhausted. */
  next: { object_id: string; version: number } | null
  /** The scan budget ran out before the page was full: the last entry is where the scan stopped. */
  budget_spent: boolean
  /** The page's records reached the byte bound before `limit`: the last entry (a match) ends the page. */
  bytes_spent: boolean
}

export const DEFAULT_LIST_LIMIT = 100
export const MAX_LIST_LIMIT = 1000
/**
 * Catalogue entries one listing request examines before it stops at the next entry that does not
 * match (so at most this plus `limit`). Without it a filter that matches nothing (a tag nobody uses,
 * or a node that is home to few of the entries it holds) makes one request scan the whole index.
 */
export const MAX_LIST_SCAN_ENTRIES = 10_000
/**
 * Record bytes (`recordWireBytes`, each record's canonical JSON) one listing answer holds at most: it
 * stops after the entry that reaches them. `limit` alone bounds the count, not the size, and records
 * with the largest metadata the schema allows run to about 20 KB: a page of 1000 of them took some
 * 45 MB of a node's heap, and a few listings at once ran nodes out of memory in an adversarial
 * session. The entry that reaches the bound is sent, so every answer moves the listing on.
 */
export const MAX_LIST_ANSWER_BYTES = 4 * 1024 * 1024
/** The filters a client may give (docs/protocol.md 4.5). */
export const PUBLIC_FILTER_KEYS: ReadonlySet<string> = new Set([
  'after',
  'limit',
  'prefix',
  'tag',
  'author',
  'tick_from',
  'tick_to',
])
/** Those and the ones only a coordinator sends to the homes it asks. */
const FILTER_KEYS = new Set([...PUBLIC_FILTER_KEYS, 'home_only', 'scan_budget', 'max_bytes'])
const HEX_PREFIX = /^[0-9a-f]{0,64}$/
const U64_MAX = (1n << 64n) - 1n

export interface CheckedFilters {
  after: Uint8Array | undefined
  limit: number
  prefix: string
  tag: string | undefined
  author: string | undefined
  tickFrom: number
  tickTo: number
  homeOnly: boolean
  scanBudget: number
  maxBytes: number
}

export function validateListFilters(input: unknown): CheckedFilters {
  const f = (input ?? {}) as Record<string, unknown>
  if (typeof f !== 'object' || Array.isArray(f)) throw new InvalidInputError('filters must be an object')
  for (const key of Object.keys(f)) {
    if (!FILTER_KEYS.has(key)) throw new InvalidInputError(`unknown filter ${key}`)
  }
  let after: Uint8Array | undefined
  if (f.after !== undefined) {
    const a = f.after as Record<string, unknown> | null
    if (a === null || typeof a !== 'object' || !isId(a.object_id)) {
      throw new InvalidInputError('after needs a 64-hex object_id and a version')
    }
    const v = a.version
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      throw new InvalidInputError('after.version is not a version')
    after = indexKey(a.object_id, v)
  }
  const limit = f.limit ?? DEFAULT_LIST_LIMIT
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new InvalidInputError(`limit must be an integer in 1..${MAX_LIST_LIMIT}`)
  }
  const prefix = f.prefix ?? ''
  if (typeof prefix !== 'string' || !HEX_PREFIX.test(prefix)) {
    throw new InvalidInputError('prefix must be at most 64 lower-case hex characters')
  }
  for (const key of ['tag', 'author'] as const) {
    if (f[key] !== undefined && typeof f[key] !== 'string')
      throw new InvalidInputError(`${key} must be a string`)
  }
  const tick = (key: 'tick_from' | 'tick_to', fallback: number): number => {
    const v = f[key] ?? fallback
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      throw new InvalidInputError(`${key} must be a tick`)
    return v
  }
  if (f.home_only !== undefined && typeof f.home_only !== 'boolean')
    throw new InvalidInputError('home_only must be a boolean')
  const budget = f.scan_budget ?? MAX_LIST_SCAN_ENTRIES
  if (typeof budget !== 'number' || !Number.isSafeInteger(budget) || budget < 1)
    throw new InvalidInputError('scan_budget must be a positive integer')
  const maxBytes = f.max_bytes ?? MAX_LIST_ANSWER_BYTES
  if (typeof maxBytes !== 'number' || !Number.isSafeInteger(maxBytes) || maxBytes < 1)
    throw new InvalidInputError('max_bytes must be a positive integer')
  return {
    after,
    limit,
    prefix,
    tag: f.tag === undefined ? undefined : normalizeTag(f.tag as string),
    author: f.author as string | undefined,
    tickFrom: tick('tick_from', 0),
    tickTo: tick('tick_to', Number.MAX_SAFE_INTEGER),
    homeOnly: f.home_only === true,
    scanBudget: Math.min(budget, MAX_LIST_SCAN_ENTRIES),
    maxBytes: Math.min(maxBytes, MAX_LIST_ANSWER_BYTES),
  }
}

/**
 * The key range of object ids starting with `prefix`: the prefix padded with 0s (version 0) up to
 * the prefix padded with fs (version 2^64-1). An odd-length prefix fixes the high nibble only.
 */
function prefixRange(prefix: string): { gte: Uint8Array; lte: Uint8Array } {
  const low = fromHex(prefix.padEnd(64, '0'))
  const high = fromHex(prefix.padEnd(64, 'f'))
  return { gte: concatBytes([low, u64(0)]), lte: concatBytes([high, u64(U64_MAX)]) }
}

/**
 * Whether an entry passes the filters other than its key range (`after` and `prefix` bound the scan
 * itself). Shared with the coordinator, which checks node answers with it (src/engine/list.ts).
 */
export function matchesFilters(
  e: { metadata: StorageMetadata; home: boolean },
  f: Omit<CheckedFilters, 'after' | 'limit' | 'prefix' | 'scanBudget' | 'maxBytes'>,
): boolean {
  if (f.homeOnly && !e.home) return false
  if (f.author !== undefined && e.metadata.author_node_id !== f.author) return false
  const tick = e.metadata.created_at_tick
  if (tick < f.tickFrom || tick > f.tickTo) return false
  if (f.tag !== undefined && !e.metadata.tags.includes(f.tag)) return false
  return true
}

/**
 * Entries in (object_id, version) order. The iterator seeks straight to the cursor (or the prefix),
 * so a page costs what it reads from there on, not a scan from the start of the index; and it reads
 * at most `scanBudget` entries plus the matches after them: once the budget is spent the scan stops
 * at the next entry that does not match, which ends the page and is its cursor. Stopping only on a
 * non-match keeps the stop visible to whoever sees only the entries (a match there would look like
 * an exhausted range's last entry). It also stops after the match whose record reaches `maxBytes`:
 * whoever sees the entries tells that stop by adding up their sizes (src/engine/list.ts).
 */
export async function listEntries(subs: StoreSublevels, input: unknown): Promise<ListPage> {
  const f = validateListFilters(input)
  const range = prefixRange(f.prefix)
  const options: { gte?: Uint8Array; gt?: Uint8Array; lte: Uint8Array } = { lte: range.lte }
  if (f.after !== undefined && compareBytes(f.after, range.gte) >= 0) options.gt = f.after
  else options.gte = range.gte
  const entries: IndexEntry[] = []
  let exhausted = true
  let budgetSpent = false
  let bytesSpent = false
  let examined = 0
  let bytes = 0
  for await (const value of subs.index.values(options)) {
    const entry = toIndexEntry(value)
    examined++
    if (!matchesFilters(entry, f)) {
      if (examined < f.scanBudget) continue
      entries.push(entry)
      budgetSpent = true
      exhausted = false
      break
    }
    entries.push(entry)
    if (entries.length === f.limit) {
      exhausted = false
      break
    }
    bytes += recordWireBytes(entry.record)
    if (bytes >= f.maxBytes) {
      bytesSpent = true
      exhausted = false
      break
    }
  }
  const last = entries[entries.length - 1]
  const next = exhausted || last === undefined ? null : { object_id: last.object_id, version: last.version }
  return { entries, next, budget_spent: budgetSpent, bytes_spent: bytesSpent }
}
