import { parseId, toHex } from '../core/bytes.js'
import { MerkleTree, verifyInclusion } from '../core/merkle.js'
import { checkCheckpoint, eventLeaf, type SignedCheckpoint } from './checkpoint.js'
import { computeEventId, parseStorageEvent, type StorageEvent, ZERO_ID } from './event.js'

/** A log as an auditor receives it: entries and checkpoints in order, and the node's public key. */
export interface LogSource {
  events: AsyncIterable<unknown> | Iterable<unknown>
  checkpoints: AsyncIterable<unknown> | Iterable<unknown>
  publicKey: Uint8Array
  /** The node the log must belong to; when absent, the first checkpoint names it. */
  nodeId?: string
}

export interface LogVerification {
  ok: boolean
  /** Entries that passed their own checks (all of them when ok). */
  entries: number
  /** Checkpoints fully verified (all of them when ok). */
  checkpoints: number
  /** The first entry that is bad or badly covered; for a broken checkpoint, its first_seq. */
  first_bad_seq: number | null
  reason: string | null
}

/**
 * Checks a whole log in one pass, holding one batch of leaves at a time: every `event_id` is
 * recomputed, seqs run 0, 1, 2, ... and every `prev_event_id` names the entry before; checkpoints
 * run 0, 1, 2, ..., each starts where the last ended, links to the last by id, has a valid id and
 * ML-DSA-65 signature, and its batch root and head match the entries; every entry is covered and no
 * checkpoint reaches past the last entry. An exported entry's `pqc_signature` must point at its real
 * leaf. Stops at the first failure, so `first_bad_seq` is the lowest bad position.
 */
export async function verifyLog(source: LogSource): Promise<LogVerification> {
  const checkpoints = iteratorOf(source.checkpoints)
  let nodeId = source.nodeId ?? null
  let expected = 0
  let prevEventId = ZERO_ID
  let verifiedCheckpoints = 0
  let prevCheckpointId = ZERO_ID
  let cp: SignedCheckpoint | null = null
  let leaves: Uint8Array[] = []

  const bad = (seq: number, reason: string): LogVerification => ({
    ok: false,
    entries: expected,
    checkpoints: verifiedCheckpoints,
    first_bad_seq: seq,
    reason,
  })

  try {
    for await (const raw of source.events) {
      const seq = expected
      if (cp === null) {
        const next = await checkpoints.next()
        if (next.done === true) return bad(seq, `entry ${seq} is not covered by any checkpoint`)
        const checked = checkCheckpoint(next.value, source.publicKey)
        if (!checked.ok) return bad(seq, checked.reason!)
        const c = checked.checkpoint!
        if (c.checkpoint_seq !== verifiedCheckpoints) {
          return bad(seq, `checkpoint ${verifiedCheckpoints} expected, found ${c.checkpoint_seq}`)
        }
        if (c.first_seq !== seq)
          return bad(seq, `checkpoint ${c.checkpoint_seq} starts at ${c.first_seq}, not ${seq}`)
        if (c.prev_checkpoint_id !== prevCheckpointId) {
          return bad(seq, `checkpoint ${c.checkpoint_seq} does not link to the previous checkpoint`)
        }
        if (nodeId === null) nodeId = c.node_id
        if (c.node_id !== nodeId) return bad(seq, `checkpoint ${c.checkpoint_seq} is of node ${c.node_id}`)
        cp = c
        leaves = []
      }

      let e: StorageEvent
      try {
        e = parseStorageEvent(raw)
      } catch (err) {
        return bad(seq, `entry ${seq} is malformed: ${(err as Error).message}`)
      }
      if (e.seq !== seq) return bad(seq, `entry ${seq} expected, found seq ${e.seq}`)
      if (e.node_id !== nodeId) return bad(seq, `entry ${seq} is of node ${e.node_id}`)
      if (computeEventId(e) !== e.event_id)
        return bad(seq, `entry ${seq}: event_id does not match its fields`)
      if (e.prev_event_id !== prevEventId)
        return bad(seq, `entry ${seq}: prev_event_id does not link to entry ${seq - 1}`)
      const leaf = eventLeaf(e.event_id)
      const ref = e.pqc_signature
      if (ref !== null) {
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
          return bad(seq, `entry ${seq}: pqc_signature does not point at its leaf`)
        }
      }
      leaves.push(leaf)
      prevEventId = e.event_id
      expected++

      if (seq === cp.last_seq) {
        if (toHex(MerkleTree.fromLeafHashes(leaves).root) !== cp.batch_root) {
          return bad(cp.first_seq, `checkpoint ${cp.checkpoint_seq}: batch root does not match entries`)
        }
        if (cp.head_event_id !== e.event_id) {
          return bad(cp.first_seq, `checkpoint ${cp.checkpoint_seq}: head_event_id is not entry ${seq}`)
        }
        prevCheckpointId = cp.checkpoint_id
        verifiedCheckpoints++
        cp = null
      }
    }
    if (cp !== null) {
      return bad(
        expected,
        `log ends before seq ${expected}, but checkpoint ${cp.checkpoint_seq} covers up to ${cp.last_seq}`,
      )
    }
    const extra = await checkpoints.next()
    if (extra.done !== true) return bad(expected, `a checkpoint reaches past the last entry ${expected - 1}`)
  } finally {
    await checkpoints.return?.()
  }
  return { ok: true, entries: expected, checkpoints: verifiedCheckpoints, first_bad_seq: null, reason: null }
}

function iteratorOf(
  source: AsyncIterable<unknown> | Iterable<unknown>,
): AsyncIterator<unknown> | Iterator<unknown> {
  if (Symbol.asyncIterator in source) return source[Symbol.asyncIterator]()
  return source[Symbol.iterator]()
}
