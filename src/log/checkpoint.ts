import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js'
import { fromHex, isId, parseId, toHex, utf8 } from '../core/bytes.js'
import { canonicalBytes } from '../core/canonical.js'
import { InvalidInputError } from '../core/errors.js'
import { sha3Hex } from '../core/hash.js'
import { leafHash, MerkleTree, verifyInclusion } from '../core/merkle.js'
import { computeEventId, parseStorageEvent, type StorageEvent, validateNodeId } from './event.js'
import type { AuditKey } from './keys.js'

/**
 * Signed checkpoints: one ML-DSA-65 signature (~8 ms) covers a batch of entries, as a Certificate
 * Transparency signed tree head covers a tree. The checkpoint commits to its batch by an RFC 9162
 * root over the batch's event ids, to the whole history before it by `head_event_id` (the hash
 * chain makes the last id commit to every earlier entry), and to the previous checkpoint by its id.
 */

export const CHECKPOINT_SCHEMA = 'qfs-log-checkpoint/1'
export const SIGNATURE_SCHEME = 'ML-DSA-65'
/** FIPS 204 context string: a checkpoint signature can never be replayed as a signature of anything else. */
export const CHECKPOINT_CONTEXT: Uint8Array = utf8('qfs-eqm-checkpoint/1')
export const SIGNATURE_BYTES = 3309

/** The signed fields of a checkpoint. */
export interface CheckpointBody {
  schema: typeof CHECKPOINT_SCHEMA
  node_id: string
  checkpoint_seq: number
  first_seq: number
  last_seq: number
  batch_root: string
  head_event_id: string
  prev_checkpoint_id: string
  public_key_hash: string
}

export interface SignedCheckpoint extends CheckpointBody {
  /** H(JCS(body)) as hex. */
  checkpoint_id: string
  /** ML-DSA-65 over the raw 32-byte `checkpoint_id`, context `qfs-eqm-checkpoint/1`, as hex. */
  signature: string
}

/** What an auditor needs to check one entry against the node's public key alone. */
export interface Coverage {
  checkpoint: SignedCheckpoint
  leaf_index: number
  audit_path: string[]
}

export interface CheckResult {
  ok: boolean
  reason: string | null
}

const BODY_KEYS = [
  'schema',
  'node_id',
  'checkpoint_seq',
  'first_seq',
  'last_seq',
  'batch_root',
  'head_event_id',
  'prev_checkpoint_id',
  'public_key_hash',
] as const
const SIGNED_KEYS = new Set<string>([...BODY_KEYS, 'checkpoint_id', 'signature'])

export function publicKeyHash(publicKey: Uint8Array): string {
  return sha3Hex(publicKey)
}

/** The RFC 9162 leaf of an entry: `H(0x00 || raw event id)`. */
export function eventLeaf(eventId: string | Uint8Array): Uint8Array {
  return leafHash(typeof eventId === 'string' ? parseId(eventId, 'event_id') : eventId)
}

/** The batch tree over raw 32-byte event ids, in seq order. */
export function batchTree(eventIds: readonly Uint8Array[]): MerkleTree {
  return MerkleTree.fromLeafHashes(eventIds.map((id) => leafHash(id)))
}

export interface CheckpointPosition {
  node_id: string
  checkpoint_seq: number
  first_seq: number
  prev_checkpoint_id: string
}

/** The checkpoint over `eventIds` (raw ids of seqs `first_seq..`), signed with `key`. */
export function signCheckpoint(
  at: CheckpointPosition,
  eventIds: readonly Uint8Array[],
  key: AuditKey,
): SignedCheckpoint {
  if (eventIds.length === 0) throw new InvalidInputError('a checkpoint covers at least one entry')
  const body: CheckpointBody = {
    schema: CHECKPOINT_SCHEMA,
    node_id: at.node_id,
    checkpoint_seq: at.checkpoint_seq,
    first_seq: at.first_seq,
    last_seq: at.first_seq + eventIds.length - 1,
    batch_root: toHex(batchTree(eventIds).root),
    head_event_id: toHex(eventIds[eventIds.length - 1]!),
    prev_checkpoint_id: at.prev_checkpoint_id,
    public_key_hash: publicKeyHash(key.publicKey),
  }
  const checkpointId = computeCheckpointId(body)
  const signature = ml_dsa65.sign(parseId(checkpointId), key.secretKey, { context: CHECKPOINT_CONTEXT })
  return { ...body, checkpoint_id: checkpointId, signature: toHex(signature) }
}

export function computeCheckpointId(body: CheckpointBody): string {
  const signed: Record<string, unknown> = {}
  for (const k of BODY_KEYS) signed[k] = body[k]
  return sha3Hex(canonicalBytes(signed))
}

/** The shape of a signed checkpoint from anywhere (`INVALID_INPUT`); ids and signature are not checked here. */
export function parseSignedCheckpoint(input: unknown): SignedCheckpoint {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new InvalidInputError('checkpoint must be an object')
  }
  const c = input as Record<string, unknown>
  for (const key of Object.keys(c)) {
    if (!SIGNED_KEYS.has(key)) throw new InvalidInputError(`unknown checkpoint key ${key}`)
  }
  if (c.schema !== CHECKPOINT_SCHEMA)
    throw new InvalidInputError(`checkpoint schema must be ${CHECKPOINT_SCHEMA}`)
  const first = uint(c.first_seq, 'first_seq')
  const last = uint(c.last_seq, 'last_seq')
  if (last < first) throw new InvalidInputError('checkpoint last_seq before first_seq')
  if (typeof c.signature !== 'string' || c.signature.length !== 2 * SIGNATURE_BYTES) {
    throw new InvalidInputError(`checkpoint signature must be ${2 * SIGNATURE_BYTES} hex characters`)
  }
  fromHex(c.signature, 'signature')
  return {
    schema: CHECKPOINT_SCHEMA,
    node_id: validateNodeId(c.node_id),
    checkpoint_seq: uint(c.checkpoint_seq, 'checkpoint_seq'),
    first_seq: first,
    last_seq: last,
    batch_root: id(c.batch_root, 'batch_root'),
    head_event_id: id(c.head_event_id, 'head_event_id'),
    prev_checkpoint_id: id(c.prev_checkpoint_id, 'prev_checkpoint_id'),
    public_key_hash: id(c.public_key_hash, 'public_key_hash'),
    checkpoint_id: id(c.checkpoint_id, 'checkpoint_id'),
    signature: c.signature,
  }
}

/**
 * Everything about one checkpoint that needs no other data: its shape, its id, the key it names and
 * its signature. Total: a malformed input or key is a reason, never an exception.
 */
export function checkCheckpoint(
  input: unknown,
  publicKey: Uint8Array,
): CheckResult & { checkpoint?: SignedCheckpoint } {
  let cp: SignedCheckpoint
  try {
    cp = parseSignedCheckpoint(input)
  } catch (err) {
    return fail(`malformed checkpoint: ${(err as Error).message}`)
  }
  if (!(publicKey instanceof Uint8Array)) return fail('public key must be bytes')
  if (computeCheckpointId(cp) !== cp.checkpoint_id)
    return fail(`checkpoint ${cp.checkpoint_seq}: id does not match its fields`)
  if (publicKeyHash(publicKey) !== cp.public_key_hash)
    return fail(`checkpoint ${cp.checkpoint_seq}: signed by another key`)
  let valid: boolean
  try {
    valid = ml_dsa65.verify(fromHex(cp.signature), parseId(cp.checkpoint_id), publicKey, {
      context: CHECKPOINT_CONTEXT,
    })
  } catch {
    valid = false
  }
  if (!valid) return fail(`checkpoint ${cp.checkpoint_seq}: bad signature`)
  return { ok: true, reason: null, checkpoint: cp }
}

/**
 * One entry's coverage, checked with the node's public key alone: the event's id is recomputed from
 * its fields, the checkpoint's id and signature are checked, and the audit path must lead from the
 * event's leaf at `seq - first_seq` to the signed batch root. Total.
 */
export function verifyCoverage(event: unknown, coverage: unknown, publicKey: Uint8Array): CheckResult {
  let e: StorageEvent
  try {
    e = parseStorageEvent(event)
  } catch (err) {
    return fail(`malformed event: ${(err as Error).message}`)
  }
  if (computeEventId(e) !== e.event_id) return fail('event_id does not match the event')
  if (coverage === null || typeof coverage !== 'object') return fail('coverage must be an object')
  const { checkpoint, leaf_index: leafIndex, audit_path: auditPath } = coverage as Record<string, unknown>
  const checked = checkCheckpoint(checkpoint, publicKey)
  if (!checked.ok) return checked
  const cp = checked.checkpoint!
  if (cp.node_id !== e.node_id) return fail('checkpoint is of another node')
  if (e.seq < cp.first_seq || e.seq > cp.last_seq) return fail('checkpoint does not cover the event seq')
  if (typeof leafIndex !== 'number' || leafIndex !== e.seq - cp.first_seq)
    return fail('leaf_index does not match the event seq')
  if (e.seq === cp.last_seq && e.event_id !== cp.head_event_id)
    return fail('event is not the checkpoint head')
  if (!Array.isArray(auditPath) || !auditPath.every((h) => isId(h)))
    return fail('audit_path must be 64-hex hashes')
  const path = auditPath.map((h: string) => parseId(h))
  const size = cp.last_seq - cp.first_seq + 1
  if (!verifyInclusion(eventLeaf(e.event_id), leafIndex, size, path, parseId(cp.batch_root))) {
    return fail('audit path does not lead to the signed batch root')
  }
  return { ok: true, reason: null }
}

/** The coverage of leaf `index` in a batch tree under its signed checkpoint. */
export function coverageOf(checkpoint: SignedCheckpoint, tree: MerkleTree, index: number): Coverage {
  return { checkpoint, leaf_index: index, audit_path: tree.auditPath(index).map(toHex) }
}

function fail(reason: string): CheckResult {
  return { ok: false, reason }
}

function uint(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidInputError(`checkpoint ${what} must be a non-negative safe integer`)
  }
  return value
}

function id(value: unknown, what: string): string {
  if (!isId(value)) throw new InvalidInputError(`checkpoint ${what} must be 64 lower-case hex characters`)
  return value
}
