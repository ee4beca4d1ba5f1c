import { compareBytes, isId, utf8 } from './bytes.js'
import { canonicalBytes, isWellFormedText } from './canonical.js'
import { InvalidMetadataError } from './errors.js'
import { sha3 } from './hash.js'
import { MAX_SAFE } from './params.js'

/**
 * Object metadata, PROTOCOL.md "Metadata and its normalization". Keys are snake_case because the
 * canonical JSON of this object is hashed into `metadata_seed`: the names are part of the bytes.
 */
export interface StorageMetadata {
  author_node_id: string
  created_at_tick: number
  tags: string[]
  openagi_score: number | null
  atr_fee_events: string[]
  aegis_telemetry_stub: AegisTelemetryStub | null
}

export type ProofResult = 'PASS' | 'FAIL' | 'NONE'

export interface AegisTelemetryStub {
  node_id: string
  proof_result: ProofResult
  latency_band: number
  at_epoch: number
}

export const MAX_TAGS = 32
export const MAX_TAG_BYTES = 64
export const MAX_AUTHOR_BYTES = 128
export const MAX_OPENAGI_SCORE = 1_000_000

const METADATA_KEYS = [
  'author_node_id',
  'created_at_tick',
  'tags',
  'openagi_score',
  'atr_fee_events',
  'aegis_telemetry_stub',
] as const
const TELEMETRY_KEYS = ['node_id', 'proof_result', 'latency_band', 'at_epoch'] as const
const PROOF_RESULTS: readonly string[] = ['PASS', 'FAIL', 'NONE']

/**
 * Checks metadata from the wire and returns its normal form, with all six keys present.
 *
 * Where PROTOCOL.md leaves a choice, we follow the independent (Python) implementation of the
 * conformance vectors:
 * - "trim white space" is Python's `str.strip()`: the code points for which `str.isspace()` holds.
 *   That set differs from JS `String.prototype.trim`: it includes U+001C..U+001F and U+0085 and
 *   excludes U+FEFF (a format character, not a space).
 * - the steps run in the table's order: NFC, then trim, then ASCII lower-casing; the 32-tag and
 *   64-byte limits apply to the result (after dropping empties and duplicates), not to the input.
 * - a key whose value is `undefined` (possible only from JS callers) counts as absent.
 * - a string with a lone surrogate has no UTF-8 form and is rejected (Python's encoder raises).
 */
export function normalizeMetadata(input: unknown): StorageMetadata {
  const m = plainObject(input, 'metadata')
  for (const key of Object.keys(m)) {
    if (!(METADATA_KEYS as readonly string[]).includes(key)) {
      throw new InvalidMetadataError(`unknown metadata key ${JSON.stringify(key)}`)
    }
  }
  const author = m.author_node_id
  if (typeof author !== 'string') throw new InvalidMetadataError('author_node_id must be a string')
  const authorBytes = textBytes(author, 'author_node_id').length
  if (authorBytes < 1 || authorBytes > MAX_AUTHOR_BYTES) {
    throw new InvalidMetadataError(`author_node_id must be 1..${MAX_AUTHOR_BYTES} UTF-8 bytes`)
  }
  return {
    author_node_id: author,
    created_at_tick: safeCount(m.created_at_tick, 'created_at_tick', MAX_SAFE),
    tags: normalizeTags(m.tags),
    openagi_score:
      m.openagi_score === undefined || m.openagi_score === null
        ? null
        : safeCount(m.openagi_score, 'openagi_score', MAX_OPENAGI_SCORE),
    atr_fee_events: normalizeFeeEvents(m.atr_fee_events),
    aegis_telemetry_stub:
      m.aegis_telemetry_stub === undefined || m.aegis_telemetry_stub === null
        ? null
        : normalizeStub(m.aegis_telemetry_stub),
  }
}

/** `metadata_seed = H(utf8(JCS(metadata)))` of metadata already normalized. */
export function metadataSeed(m: StorageMetadata): Uint8Array {
  return sha3(canonicalBytes(m))
}

/** Python's `str.isspace()` code points (all in the BMP, so one UTF-16 unit each). */
export function isPythonSpace(unit: number): boolean {
  return (
    (unit >= 0x09 && unit <= 0x0d) ||
    (unit >= 0x1c && unit <= 0x20) ||
    unit === 0x85 ||
    unit === 0xa0 ||
    unit === 0x1680 ||
    (unit >= 0x2000 && unit <= 0x200a) ||
    unit === 0x2028 ||
    unit === 0x2029 ||
    unit === 0x202f ||
    unit === 0x205f ||
    unit === 0x3000
  )
}

/** One tag's normal form: NFC, Python `strip()`, then `A-Z` to `a-z` (no other case mapping). */
export function normalizeTag(tag: string): string {
  const nfc = tag.normalize('NFC')
  // A scan, not a regex: `\s+$` backtracks quadratically on long runs of spaces.
  let start = 0
  let end = nfc.length
  while (start < end && isPythonSpace(nfc.charCodeAt(start))) start++
  while (end > start && isPythonSpace(nfc.charCodeAt(end - 1))) end--
  return nfc.slice(start, end).replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32))
}

function normalizeTags(value: unknown): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw new InvalidMetadataError('tags must be an array of strings')
  const byText = new Map<string, Uint8Array>()
  for (const tag of value) {
    if (typeof tag !== 'string') throw new InvalidMetadataError('tags must be an array of strings')
    textBytes(tag, 'tag')
    const normal = normalizeTag(tag)
    if (normal !== '' && !byText.has(normal)) byText.set(normal, utf8(normal))
  }
  const sorted = [...byText.entries()].sort((a, b) => compareBytes(a[1], b[1]))
  if (sorted.length > MAX_TAGS) throw new InvalidMetadataError(`more than ${MAX_TAGS} tags`)
  for (const [text, bytes] of sorted) {
    if (bytes.length > MAX_TAG_BYTES) {
      throw new InvalidMetadataError(
        `tag ${JSON.stringify(text.slice(0, 16))}... exceeds ${MAX_TAG_BYTES} bytes`,
      )
    }
  }
  return sorted.map(([text]) => text)
}

function normalizeFeeEvents(value: unknown): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw new InvalidMetadataError('atr_fee_events must be an array of ids')
  const ids = new Set<string>()
  for (const id of value) {
    if (!isId(id))
      throw new InvalidMetadataError('atr_fee_events entries must be 64 lower-case hex characters')
    ids.add(id)
  }
  // Lower-case hex: code-unit order is byte order.
  return [...ids].sort()
}

function normalizeStub(value: unknown): AegisTelemetryStub {
  const s = plainObject(value, 'aegis_telemetry_stub')
  const keys = Object.keys(s)
  if (keys.length !== TELEMETRY_KEYS.length || !TELEMETRY_KEYS.every((k) => Object.hasOwn(s, k))) {
    throw new InvalidMetadataError(`aegis_telemetry_stub must have exactly ${TELEMETRY_KEYS.join(', ')}`)
  }
  if (typeof s.node_id !== 'string')
    throw new InvalidMetadataError('aegis_telemetry_stub.node_id must be a string')
  textBytes(s.node_id, 'aegis_telemetry_stub.node_id')
  if (typeof s.proof_result !== 'string' || !PROOF_RESULTS.includes(s.proof_result)) {
    throw new InvalidMetadataError('aegis_telemetry_stub.proof_result must be PASS, FAIL or NONE')
  }
  return {
    node_id: s.node_id,
    proof_result: s.proof_result as ProofResult,
    latency_band: safeCount(s.latency_band, 'aegis_telemetry_stub.latency_band', MAX_SAFE),
    at_epoch: safeCount(s.at_epoch, 'aegis_telemetry_stub.at_epoch', MAX_SAFE),
  }
}

function plainObject(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidMetadataError(`${what} must be an object`)
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null)
    throw new InvalidMetadataError(`${what} must be a plain object`)
  return value as Record<string, unknown>
}

// `typeof true` is 'boolean', so booleans (Python's `True == 1`) never pass as integers here.
function safeCount(value: unknown, what: string, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new InvalidMetadataError(`${what} must be an integer in 0..${max}`)
  }
  return value === 0 ? 0 : value // -0 has the JSON form "0"; keep one spelling in memory too
}

function textBytes(text: string, what: string): Uint8Array {
  if (!isWellFormedText(text)) throw new InvalidMetadataError(`${what} contains a lone surrogate`)
  return utf8(text)
}
