import { compareBytes, fromHex, isId } from '../core/bytes.js'
import { InvalidInputError } from '../core/errors.js'
import { recordDigest, type VersionRecord } from '../core/record.js'
import { type EngineContext, majority, requestSignal, settle } from './context.js'
import { QuorumNotReachedError } from './errors.js'
import type { ObjectSummary } from './responses.js'
import type { RecordFilters } from './transport.js'

export const DEFAULT_PAGE = 100
export const MAX_PAGE = 1000

/** Checks list filters from any caller (CLI, wire, HTTP); `INVALID_INPUT` on anything else. */
export function validateFilters(input: unknown): RecordFilters {
  if (input === undefined || input === null) return {}
  if (typeof input !== 'object' || Array.isArray(input))
    throw new InvalidInputError('filters must be an object')
  const f = input as Record<string, unknown>
  const out: RecordFilters = {}
  for (const key of Object.keys(f)) {
    if (f[key] === undefined || f[key] === null) continue
    switch (key) {
      case 'after': {
        const a = f.after as Record<string, unknown>
        if (typeof a !== 'object' || !isId(a.object_id) || !isCount(a.version)) {
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
        if (
          typeof f[key] !== 'string' ||
          (f[key] as string).length === 0 ||
          (f[key] as string).length > 256
        ) {
          throw new InvalidInputError(`${key} must be a non-empty string`)
        }
        out[key] = f[key] as string
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

function isCount(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

function compareKey(
  a: { object_id: string; version: number },
  b: { object_id: string; version: number },
): number {
  return compareBytes(fromHex(a.object_id), fromHex(b.object_id)) || a.version - b.version
}

/**
 * Asks every eligible node for the records it keeps as a home and merges them: a version is
 * listed when a majority of its homes report the same record, the rule reads use, so a listing
 * never shows what a read would refuse. Sorted by (object_id, version).
 */
export async function listVersions(
  ctx: EngineContext,
  nodes: readonly string[],
  filters: RecordFilters,
  signal?: AbortSignal,
): Promise<{ objects: ObjectSummary[]; next_cursor: { object_id: string; version: number } | null }> {
  const limit = filters.limit ?? DEFAULT_PAGE
  const answers = await settle(nodes, (n) =>
    ctx.transport.listRecords(n, { ...filters, limit }, { signal: requestSignal(ctx, signal) }),
  )
  const pages = answers.filter((a) => a.value !== undefined).map((a) => a.value!)
  if (pages.length === 0 && nodes.length > 0) throw new QuorumNotReachedError('no node answered the listing')
  // A node whose page is full may hold more beyond its last key, so nothing past the smallest such
  // key can be counted completely yet: it belongs to the next page.
  let boundary: VersionRecord | undefined
  for (const page of pages) {
    if (page.length < limit) continue
    const last = page[page.length - 1]!
    if (boundary === undefined || compareKey(last, boundary) < 0) boundary = last
  }
  const votes = new Map<string, { record: VersionRecord; count: number }>()
  for (const page of pages) {
    for (const r of page) {
      if (boundary !== undefined && compareKey(r, boundary) > 0) continue
      const key = `${r.object_id}/${r.version}/${recordDigest(r)}`
      const v = votes.get(key) ?? { record: r, count: 0 }
      v.count++
      votes.set(key, v)
    }
  }
  const decided = [...votes.values()]
    .filter((v) => v.count >= majority(v.record.catalogue_homes.length))
    .map((v) => v.record)
    .sort(compareKey)
  const objects = decided.slice(0, limit).map(summary)
  const more = boundary !== undefined || decided.length > limit
  const last = objects[objects.length - 1]
  const cursor = last ?? boundary
  return {
    objects,
    next_cursor:
      more && cursor !== undefined ? { object_id: cursor.object_id, version: cursor.version } : null,
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
