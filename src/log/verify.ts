import { parseId, toHex } from '../core/bytes.js'
import { InvalidInputError } from '../core/errors.js'
import { MerkleTree, verifyInclusion } from '../core/merkle.js'
import {
  checkCheckpoint,
  computeCheckpointId,
  eventLeaf,
  parseSignedCheckpoint,
  publicKeyHash,
  type SignedCheckpoint,
} from './checkpoint.js'
import { computeEventId, parseStorageEvent, type StorageEvent, ZERO_ID } from './event.js'

/** A log as an auditor receives it: entries and checkpoints in order, and the node's public key. */
export interface LogSource {
  /** Entry values in seq order; a `MisplacedValue` stands for a value stored under a key it does not belong to. */
  events: AsyncIterable<unknown> | Iterable<unknown>
  /** Checkpoint values in checkpoint_seq order; a `MisplacedValue` as for `events`. */
  checkpoints: AsyncIterable<unknown> | Iterable<unknown>
  publicKey: Uint8Array
  /** The node the log must belong to; when absent, the first checkpoint names it. */
  nodeId?: string
  /**
   * A checkpoint id seen before (an earlier verdict's `last_checkpoint_id`): the log must still hold
   * it, or it was cut back (`HEAD_NOT_FOUND`). Through the chain of checkpoints, holding the latest
   * head seen vouches for every earlier one.
   */
  expectedHead?: string
}

/**
 * Why a log failed, stable for programs to branch on. `UNCOVERED_TAIL` alone is not damage: the
 * newest entries hash and link but no checkpoint signs them yet (a crash before the checkpoint
 * timer; the node signs them when it opens the log again). Every other code is a log that was
 * damaged or altered.
 */
export type LogVerdictCode =
  /** Entries from `first_bad_seq` on hash and link, but no checkpoint covers them yet. */
  | 'UNCOVERED_TAIL'
  /** An entry does not parse, its `event_id` is not the hash of its fields, or its `pqc_signature` does not point at its leaf. */
  | 'BAD_ENTRY'
  /** An entry sits at another position than its seq (one missing, repeated or moved). */
  | 'BAD_SEQ'
  /** An entry's `prev_event_id` is not the id of the entry before it. */
  | 'BAD_LINK'
  /** An entry or checkpoint names another node than the log's. */
  | 'WRONG_NODE'
  /** A checkpoint names another signing key than the one the log is checked against. */
  | 'WRONG_KEY'
  /** A checkpoint's ML-DSA-65 signature does not verify. */
  | 'BAD_SIGNATURE'
  /** A checkpoint does not parse, its id is not the hash of its fields, it is out of order or does not link, or its batch root or head does not match the entries. */
  | 'BAD_CHECKPOINT'
  /** A checkpoint covers entries the log does not have (entries removed below a signed head). */
  | 'CHECKPOINT_PAST_END'
  /** A value is stored under a key that is not the seq key of what it holds. */
  | 'STRAY_KEY'
  /** The log does not hold the checkpoint given as a head seen before: it was cut back (and maybe grown again). */
  | 'HEAD_NOT_FOUND'

export interface LogVerification {
  ok: boolean
  /** Null when ok. */
  code: LogVerdictCode | null
  /** Entries that passed their own checks (all of them when ok or when only the tail is uncovered). */
  entries: number
  /** Checkpoints fully verified (all of them when ok). */
  checkpoints: number
  /** The first entry that is bad or badly covered; for a broken checkpoint, its first_seq; null when ok or `HEAD_NOT_FOUND`. */
  first_bad_seq: number | null
  reason: string | null
  /** SHA3-256 of the public key the checkpoints were checked against. */
  public_key_hash: string
  /**
   * The signed head: the last fully verified checkpoint, the seq and id of the entry it ends at (null
   * when none verified). Removing the newest checkpoints with their entries leaves an older head
   * that verifies; only a head seen before shows it.
   */
  last_checkpoint_id: string | null
  head_seq: number | null
  head_event_id: string | null
}

/**
 * A stored value under a key that does not belong to it (a key that is not a seq key, or the seq key
 * of another entry): a reader of stored data yields this in its place, and the verdict is `STRAY_KEY`.
 */
export class MisplacedValue {
  constructor(
    readonly key: string,
    readonly why: string,
  ) {}
}

type CheckpointOutcome =
  | { ok: true; checkpoint: SignedCheckpoint }
  | { ok: false; code: LogVerdictCode; reason: string }

/**
 * Checks a whole log in one pass, holding one batch of leaves at a time: every `event_id` is
 * recomputed, seqs run 0, 1, 2, ... and every `prev_event_id` names the entry before; checkpoints
 * run 0, 1, 2, ..., each starts where the last ended, links to the last by id, has a valid id and
 * ML-DSA-65 signature, and its batch root and head match the entries; no checkpoint reaches past the
 * last entry. Entries past the last checkpoint are checked the same way (hash, link) and, if sound,
 * answered `UNCOVERED_TAIL`. An exported entry's `pqc_signature` must point at its real leaf. Stops
 * at the first failure, so `first_bad_seq` is the lowest bad position.
 */
export async function verifyLog(source: LogSource): Promise<LogVerification> {
  if (!(source.publicKey instanceof Uint8Array)) throw new InvalidInputError('publicKey must be bytes')
  const keyHash = publicKeyHash(source.publicKey)
  const checkpoints = iteratorOf(source.checkpoints)
  let nodeId = source.nodeId ?? null
  let expected = 0
  let prevEventId = ZERO_ID
  let verifiedCheckpoints = 0
  let head: SignedCheckpoint | null = null
  let cp: SignedCheckpoint | null = null
  /** The first seq no checkpoint covers, once the checkpoints ran out. */
  let tailStart: number | null = null
  let headFound = source.expectedHead === undefined
  let leaves: Uint8Array[] = []

  const verdict = (
    code: LogVerdictCode | null,
    seq: number | null,
    reason: string | null,
  ): LogVerification => ({
    ok: code === null,
    code,
    entries: expected,
    checkpoints: verifiedCheckpoints,
    first_bad_seq: seq,
    reason,
    public_key_hash: keyHash,
    last_checkpoint_id: head?.checkpoint_id ?? null,
    head_seq: head?.last_seq ?? null,
    head_event_id: head?.head_event_id ?? null,
  })
  const bad = (seq: number, code: LogVerdictCode, reason: string) => verdict(code, seq, reason)

  /** The next checkpoint on its own and against the one before; it must start at `seq`. */
  const openCheckpoint = (raw: unknown, seq: number): CheckpointOutcome => {
    const fail = (code: LogVerdictCode, reason: string): CheckpointOutcome => ({ ok: false, code, reason })
    if (raw instanceof MisplacedValue) return fail('STRAY_KEY', raw.why)
    let c: SignedCheckpoint
    try {
      c = parseSignedCheckpoint(raw)
    } catch (err) {
      return fail('BAD_CHECKPOINT', `malformed checkpoint: ${(err as Error).message}`)
    }
    if (computeCheckpointId(c) !== c.checkpoint_id)
      return fail('BAD_CHECKPOINT', `checkpoint ${c.checkpoint_seq}: id does not match its fields`)
    if (nodeId === null) nodeId = c.node_id
    if (c.node_id !== nodeId)
      return fail('WRONG_NODE', `checkpoint ${c.checkpoint_seq} is of node ${c.node_id}`)
    if (c.public_key_hash !== keyHash) {
      return fail(
        'WRONG_KEY',
        `checkpoint ${c.checkpoint_seq} is signed by key ${c.public_key_hash}, not ${keyHash}`,
      )
    }
    // Shape, id and key are settled above, so the one thing left for checkCheckpoint to refuse is the signature.
    const checked = checkCheckpoint(raw, source.publicKey)
    if (!checked.ok)
      return fail('BAD_SIGNATURE', checked.reason ?? `checkpoint ${c.checkpoint_seq}: bad signature`)
    if (c.checkpoint_seq !== verifiedCheckpoints) {
      return fail('BAD_CHECKPOINT', `checkpoint ${verifiedCheckpoints} expected, found ${c.checkpoint_seq}`)
    }
    if (c.first_seq !== seq)
      return fail('BAD_CHECKPOINT', `checkpoint ${c.checkpoint_seq} starts at ${c.first_seq}, not ${seq}`)
    const prevCheckpointId = head?.checkpoint_id ?? ZERO_ID
    if (c.prev_checkpoint_id !== prevCheckpointId) {
      return fail('BAD_CHECKPOINT', `checkpoint ${c.checkpoint_seq} does not link to the previous checkpoint`)
    }
    return { ok: true, checkpoint: c }
  }

  try {
    for await (const raw of source.events) {
      const seq = expected
      if (raw instanceof MisplacedValue) return bad(seq, 'STRAY_KEY', raw.why)
      if (cp === null && tailStart === null) {
        const next = await checkpoints.next()
        if (next.done === true) tailStart = seq
        else {
          const opened = openCheckpoint(next.value, seq)
          if (!opened.ok) return bad(seq, opened.code, opened.reason)
          cp = opened.checkpoint
          leaves = []
        }
      }

      let e: StorageEvent
      try {
        e = parseStorageEvent(raw)
      } catch (err) {
        return bad(seq, 'BAD_ENTRY', `entry ${seq} is malformed: ${(err as Error).message}`)
      }
      if (e.seq !== seq) return bad(seq, 'BAD_SEQ', `entry ${seq} expected, found seq ${e.seq}`)
      if (nodeId === null) nodeId = e.node_id
      if (e.node_id !== nodeId) return bad(seq, 'WRONG_NODE', `entry ${seq} is of node ${e.node_id}`)
      if (computeEventId(e) !== e.event_id)
        return bad(seq, 'BAD_ENTRY', `entry ${seq}: event_id does not match its fields`)
      if (e.prev_event_id !== prevEventId)
        return bad(seq, 'BAD_LINK', `entry ${seq}: prev_event_id does not link to entry ${seq - 1}`)
      const leaf = eventLeaf(e.event_id)
      const ref = e.pqc_signature
      if (ref !== null) {
        if (cp === null) {
          return bad(seq, 'BAD_ENTRY', `entry ${seq}: pqc_signature names a checkpoint, but none covers it`)
        }
        const index = seq - cp.first_seq
        const size = cp.last_seq - cp.first_seq + 1
        if (
          ref.checkpoint_id !== cp.checkpoint_id ||
          ref.leaf_index !== index ||
          !verifyInclusion(
            leaf,
            index,
            size,
            ref.audit_path.map((h) => parseId(h)),
            parseId(cp.batch_root),
          )
        ) {
          return bad(seq, 'BAD_ENTRY', `entry ${seq}: pqc_signature does not point at its leaf`)
        }
      }
      prevEventId = e.event_id
      expected++
      if (cp === null) continue
      leaves.push(leaf)

      if (seq === cp.last_seq) {
        if (toHex(MerkleTree.fromLeafHashes(leaves).root) !== cp.batch_root) {
          return bad(
            cp.first_seq,
            'BAD_CHECKPOINT',
            `checkpoint ${cp.checkpoint_seq}: batch root does not match entries`,
          )
        }
        if (cp.head_event_id !== e.event_id) {
          return bad(
            cp.first_seq,
            'BAD_CHECKPOINT',
            `checkpoint ${cp.checkpoint_seq}: head_event_id is not entry ${seq}`,
          )
        }
        head = cp
        if (cp.checkpoint_id === source.expectedHead) headFound = true
        verifiedCheckpoints++
        cp = null
      }
    }
    if (cp !== null) {
      return bad(
        expected,
        'CHECKPOINT_PAST_END',
        `log ends before seq ${expected}, but checkpoint ${cp.checkpoint_seq} covers up to ${cp.last_seq}`,
      )
    }
    if (tailStart === null) {
      const extra = await checkpoints.next()
      if (extra.done !== true) {
        if (extra.value instanceof MisplacedValue) return bad(expected, 'STRAY_KEY', extra.value.why)
        return bad(
          expected,
          'CHECKPOINT_PAST_END',
          `a checkpoint reaches past the last entry ${expected - 1}`,
        )
      }
    }
  } finally {
    await checkpoints.return?.()
  }
  if (!headFound) {
    return verdict(
      'HEAD_NOT_FOUND',
      null,
      `no verified checkpoint of this log has id ${source.expectedHead}: the log was cut back below that head`,
    )
  }
  if (tailStart !== null) {
    return bad(
      tailStart,
      'UNCOVERED_TAIL',
      `entries ${tailStart}..${expected - 1} hash and link but no checkpoint covers them yet (the node signs them when it opens its log again)`,
    )
  }
  return verdict(null, null, null)
}

function iteratorOf(
  source: AsyncIterable<unknown> | Iterable<unknown>,
): AsyncIterator<unknown> | Iterator<unknown> {
  if (Symbol.asyncIterator in source) return source[Symbol.asyncIterator]()
  return source[Symbol.iterator]()
}
