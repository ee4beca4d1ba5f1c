import { compareBytes, fromHex, isId } from '../core/bytes.js'
import { InvalidInputError } from '../core/errors.js'
import { recordDigest, recordWireBytes, type VersionRecord } from '../core/record.js'
import type { Membership } from '../membership/types.js'
import {
  MAX_LIST_ANSWER_BYTES,
  MAX_LIST_SCAN_ENTRIES,
  matchesFilters,
  PUBLIC_FILTER_KEYS,
  validateListFilters,
} from '../store/listing.js'
import { ask, type EngineContext, majority, settle } from './context.js'
import { countedCodes, QuorumNotReachedError } from './errors.js'
import { placementProblem } from './record-placement.js'
import type { ObjectSummary } from './responses.js'
import type { RecordFilters } from './transport.js'

export const DEFAULT_PAGE = 100
export const MAX_PAGE = 1000
/** Longest `tag` or `author` filter, in UTF-16 code units (docs/protocol.md 4.5), as JavaScript counts. */
export const MAX_FILTER_TEXT_UNITS = 256
export { MAX_LIST_ANSWER_BYTES, MAX_LIST_SCAN_ENTRIES }
/**
 * Record bytes one listing takes from all the nodes together, shared out among them (`byteShares`):
 * with its cap on listings at once (docs/protocol.md 4.5), what bounds a coordinator's memory per
 * listing however large the records' metadata. Each node may pass its share by the one record that
 * reaches it, and answers at least one, so the bound is this plus one record per node asked.
 */
export const LIST_BYTES_PER_PAGE = MAX_LIST_ANSWER_BYTES

/**
 * Each node's share of a page's record bytes, at least 1 so that each answers at least one record
 * and the listing moves on. Shared evenly; but a listing of one object (a full-length prefix) can
 * find its records only at the object's homes, so they share the bytes and the others get 1 (they
 * hold records of it as homes only if membership moved since; a record at a time then, still
 * correct). Evenly, a listing of one object's versions would get 3/N of the bytes.
 */
export function byteShares(
  nodes: readonly string[],
  pageBytes: number,
  homes?: readonly string[],
): Map<string, number> {
  const sharers = homes === undefined ? nodes : nodes.filter((n) => homes.includes(n))
  const share = Math.max(1, Math.floor(pageBytes / Math.max(1, sharers.length)))
  return new Map(nodes.map((n) => [n, sharers.includes(n) ? share : 1]))
}

/**
 * What a coordinator asks a node to list (`replica/list`): the client's filters, the entries the node
 * may examine for them and the record bytes it may answer (docs/protocol.md 4.13). Absent, the node's
 * own bounds apply.
 */
export interface NodeListFilters extends RecordFilters {
  scan_budget?: number
  max_bytes?: number
}

/** `replica/list`'s request: the list filters plus the coordinator's `scan_budget` and `max_bytes`. */
export function validateNodeListFilters(input: unknown): NodeListFilters {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    throw new InvalidInputError('filters must be an object')
  const { scan_budget: budget, max_bytes: maxBytes, ...rest } = input as Record<string, unknown>
  const out: NodeListFilters = validateFilters(rest)
  if (budget !== undefined) {
    if (!isCount(budget) || (budget as number) < 1)
      throw new InvalidInputError('scan_budget must be a positive integer')
    out.scan_budget = budget as number
  }
  if (maxBytes !== undefined) {
    if (!isCount(maxBytes) || (maxBytes as number) < 1)
      throw new InvalidInputError('max_bytes must be a positive integer')
    out.max_bytes = maxBytes as number
  }
  return out
}

/** Checks list filters from any caller (CLI, wire, HTTP); `INVALID_INPUT` on anything else. */
export function validateFilters(input: unknown): RecordFilters {
  if (input === undefined || input === null) return {}
  if (typeof input !== 'object' || Array.isArray(input))
    throw new InvalidInputError('filters must be an object')
  const f = input as Record<string, unknown>
  const out: RecordFilters = {}
  for (const key of Object.keys(f)) {
    if (!PUBLIC_FILTER_KEYS.has(key)) throw new InvalidInputError(`unknown filter ${key}`)
    // A known filter set to null counts as absent (JSON has no undefined).
    if (f[key] === undefined || f[key] === null) continue
    switch (key) {
      case 'after': {
        const a = f.after as Record<string, unknown>
        if (
          typeof a !== 'object' ||
          !isId(a.object_id) ||
          !isCount(a.version) ||
          Object.keys(a).some((k) => k !== 'object_id' && k !== 'version')
        ) {
          // Exact, like every other request object; version 0 is the position before version 1.
          throw new InvalidInputError('after must be {object_id, version}')
        }
        out.after = { object_id: a.object_id, version: a.version as number }
        break
      }
      case 'limit':
        if (!isCount(f.limit) || (f.limit as number) < 1 || (f.limit as number) > MAX_PAGE) {
          throw new InvalidInputError(`limit must be an integer in 1..${MAX_PAGE}`)
        }
        out.limit = f.limit as number
        break
      case 'prefix':
        if (typeof f.prefix !== 'string' || !/^[0-9a-f]{0,64}$/.test(f.prefix)) {
          throw new InvalidInputError('prefix must be lower-case hex of at most 64 characters')
        }
        out.prefix = f.prefix
        break
      case 'tag':
      case 'author':
        out[key] = filterText(key, f[key])
        break
      case 'tick_from':
      case 'tick_to':
        if (!isCount(f[key])) throw new InvalidInputError(`${key} must be a non-negative integer`)
        out[key] = f[key] as number
        break
      default:
        throw new InvalidInputError(`unknown filter ${key}`)
    }
  }
  return out
}

/** A `tag` or `author` filter: a string of 1..MAX_FILTER_TEXT_UNITS UTF-16 code units. */
export function filterText(key: 'tag' | 'author', text: unknown): string {
  const bound = `1..${MAX_FILTER_TEXT_UNITS} UTF-16 code units`
  if (typeof text !== 'string') throw new InvalidInputError(`${key} must be a string of ${bound}`)
  if (text.length === 0 || text.length > MAX_FILTER_TEXT_UNITS) {
    throw new InvalidInputError(`${key} must be ${bound} long, not ${text.length}`)
  }
  return text
}

function isCount(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/** The catalogue's order: object id bytes, then version (docs/protocol.md 4.5 and 4.13). */
export function compareKey(
  a: { object_id: string; version: number },
  b: { object_id: string; version: number },
): number {
  return compareBytes(fromHex(a.object_id), fromHex(b.object_id)) || a.version - b.version
}

export interface ListOptions {
  signal?: AbortSignal
  /** Entries each node may examine for this page (default MAX_LIST_SCAN_ENTRIES, the most a node does). */
  scanBudget?: number
  /** Record bytes all the nodes together may answer for this page (default LIST_BYTES_PER_PAGE). */
  pageBytes?: number
  /** For a listing of one object (a full-length prefix): its catalogue homes, who share the bytes. */
  homes?: readonly string[]
  /**
   * The epochs records are placed in: a record whose homes or replicas are not its epoch's placement
   * gets no vote, whichever node reports it (record-placement.ts).
   */
  membership?: Membership
}

type Key = { object_id: string; version: number }

/**
 * Asks every eligible node for the records it keeps as a home and merges them: a version is
 * listed when a majority of its homes report the same record, the rule reads use, so a listing
 * never shows what a read would refuse. Sorted by (object_id, version).
 *
 * Each node examines a bounded number of entries (MAX_LIST_SCAN_ENTRIES); one that stops early ends
 * its answer with the entry it stopped at, which does not match the filters. Each node also answers
 * at most its share of the page's bytes, stopping after the record that reaches it. Past the first
 * such key (or the last key of a full page) a node may hold more, so the page ends there: it may be
 * short, even empty, with a `next_cursor`, and is never presented as the end of the listing when it
 * is not.
 */
export async function listVersions(
  ctx: EngineContext,
  nodes: readonly string[],
  filters: RecordFilters,
  options: ListOptions = {},
): Promise<{ objects: ObjectSummary[]; next_cursor: Key | null }> {
  const limit = filters.limit ?? DEFAULT_PAGE
  const asked: NodeListFilters = { ...filters, limit }
  const budget = options.scanBudget ?? MAX_LIST_SCAN_ENTRIES
  // Left out at the default: a node applies its own bound (the same) when none is sent.
  if (budget !== MAX_LIST_SCAN_ENTRIES) asked.scan_budget = budget
  const shares = byteShares(nodes, options.pageBytes ?? LIST_BYTES_PER_PAGE, options.homes)
  // What a node stops at: its share, or its own bound if that is lower (a node applies it unasked).
  const reachedBytes = (page: readonly VersionRecord[], node: string) => {
    let bytes = 0
    for (const r of page) bytes += recordWireBytes(r)
    return bytes >= Math.min(shares.get(node)!, MAX_LIST_ANSWER_BYTES)
  }
  // The nodes' own check, tag normal form included; it throws INVALID_INPUT before anyone is asked.
  const checked = validateListFilters({ ...filters, limit, home_only: true })
  // Every node is waited for, suspect or not: a slow home cut off could leave out a decided version
  // while the page claims to be complete (docs/consistency.md).
  const answers = await settle(nodes, (n) =>
    ask(ctx, n, options.signal, (signal) =>
      ctx.transport.listRecords(n, { ...asked, max_bytes: shares.get(n)! }, { signal }),
    ),
  )
  // A caller that went away cut the exchanges short: a node left out may hide a decided version
  // while the page says it is the last, and the call's answer and audit entry must say why it ended
  // (context.ts `unlessCallerLeft`), not list what the other nodes happened to answer.
  options.signal?.throwIfAborted()
  const pages = answers.filter((a) => a.value !== undefined)
  if (pages.length === 0 && nodes.length > 0) {
    const why = countedCodes(answers.map((a) => a.error))
    throw new QuorumNotReachedError(`no node answered the listing${why === '' ? '' : ` (${why})`}`)
  }
  const after = filters.after
  const prefix = filters.prefix ?? ''
  const inRange = (r: Key) =>
    r.object_id.startsWith(prefix) && (after === undefined || compareKey(r, after) > 0)
  // What this node may vote for: in range, matching, and kept by it as a home.
  const counts = (r: VersionRecord, node: string) =>
    inRange(r) && matchesFilters({ metadata: r.metadata, home: r.catalogue_homes.includes(node) }, checked)
  // A node whose page is full, or that stopped early (on a non-matching entry, or on reaching its
  // bytes), may hold more beyond its last key, so nothing past the smallest such key can be counted
  // completely yet: it belongs to the next page.
  let boundary: Key | undefined
  for (const { node, value: page } of pages) {
    const last = page![page!.length - 1]
    if (last === undefined || !inRange(last)) continue
    if (page!.length < limit && counts(last, node) && !reachedBytes(page!, node)) continue
    if (boundary === undefined || compareKey(last, boundary) < 0) boundary = last
  }
  // Voters, not answers, are counted: a node that repeats a record in its page (nothing in the
  // wire format forbids it) still votes once, or one home could list a record it made up alone.
  const votes = new Map<string, { record: VersionRecord; voters: Set<string> }>()
  const misplaced = new Set<string>()
  for (const { node, value: page } of pages) {
    for (const r of page!) {
      if (boundary !== undefined && compareKey(r, boundary) > 0) continue
      if (!counts(r, node)) continue
      const key = `${r.object_id}/${r.version}/${recordDigest(r)}`
      if (misplaced.has(key)) continue
      if (!votes.has(key) && options.membership !== undefined && placementProblem(r, options.membership)) {
        misplaced.add(key)
        continue
      }
      const v = votes.get(key) ?? { record: r, voters: new Set<string>() }
      v.voters.add(node)
      votes.set(key, v)
    }
  }
  const decided = [...votes.values()]
    .filter((v) => v.voters.size >= majority(v.record.catalogue_homes.length))
    .map((v) => v.record)
    .sort(compareKey)
  const objects = decided.slice(0, limit).map(summary)
  // A listing of one object whose homes mostly did not answer could list none of its versions
  // placed in this epoch, whatever they hold: "none" would be a guess. It answers as a read by
  // number does when silent homes could hold the record (docs/consistency.md): retry.
  if (options.homes !== undefined && objects.length === 0) {
    const silent = options.homes.filter((h) => !pages.some((p) => p.node === h))
    if (options.homes.length - silent.length < majority(options.homes.length)) {
      const why = countedCodes(answers.filter((a) => silent.includes(a.node)).map((a) => a.error))
      throw new QuorumNotReachedError(
        `${silent.length} of the object's ${options.homes.length} homes did not answer the listing${why === '' ? '' : ` (${why})`}: its versions cannot be told`,
      )
    }
  }
  // Everything up to the boundary is complete, so a page holding all of it resumes there, past
  // the entries the nodes already examined; a page cut at `limit` resumes after its last object.
  const cursor = decided.length > limit ? objects[objects.length - 1] : boundary
  return {
    objects,
    next_cursor: cursor === undefined ? null : { object_id: cursor.object_id, version: cursor.version },
  }
}

export function summary(r: VersionRecord): ObjectSummary {
  return {
    object_id: r.object_id,
    version: r.version,
    kind: r.kind,
    hash_commit: r.hash_commit,
    content_size: r.content_size,
    created_at_tick: r.metadata.created_at_tick,
    metadata: r.metadata,
  }
}
