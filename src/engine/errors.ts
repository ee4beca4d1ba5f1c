import { QfsError } from '../core/errors.js'
import { StorageFullError } from '../store/errors.js'

/** Fewer replicas or homes answered than the write needs; a retry of the same write is safe. */
export class QuorumNotReachedError extends QfsError {
  static readonly code = 'QUORUM_NOT_REACHED'
  constructor(message: string, options?: ErrorOptions) {
    super(QuorumNotReachedError.code, message, options)
  }
}

/**
 * No replica of a shard could serve it, and none served bad bytes: they are down, slow, or do not
 * hold it (yet: a version whose commit is still under way, or rolled forward later). Retry later.
 */
export class ShardUnavailableError extends QfsError {
  static readonly code = 'SHARD_UNAVAILABLE'
  constructor(message: string, options?: ErrorOptions) {
    super(ShardUnavailableError.code, message, options)
  }
}

/** Bytes a replica served do not match the commitments the reader holds. */
export class IntegrityMismatchError extends QfsError {
  static readonly code = 'INTEGRITY_MISMATCH'
  constructor(message: string, options?: ErrorOptions) {
    super(IntegrityMismatchError.code, message, options)
  }
}

export class ObjectNotFoundError extends QfsError {
  static readonly code = 'NOT_FOUND'
  constructor(message: string, options?: ErrorOptions) {
    super(ObjectNotFoundError.code, message, options)
  }
}

/** No replica could answer a proof that verifies. */
export class ProofUnavailableError extends QfsError {
  static readonly code = 'PROOF_UNAVAILABLE'
  constructor(message: string, options?: ErrorOptions) {
    super(ProofUnavailableError.code, message, options)
  }
}

/** The request names an epoch the node has no eligibility snapshot for. */
export class AegisContextMissingError extends QfsError {
  static readonly code = 'AEGIS_CONTEXT_MISSING'
  constructor(message: string, options?: ErrorOptions) {
    super(AegisContextMissingError.code, message, options)
  }
}

/**
 * A peer that lately failed to answer was no longer waited for, because its phase already had what
 * it needs (engine/context.ts `settleAsking`). Only ever a replica's or home's part in a phase; the
 * operation itself never fails with it alone.
 */
export class CutShortError extends QfsError {
  static readonly code = 'CUT_SHORT'
  constructor(message: string, options?: ErrorOptions) {
    super(CutShortError.code, message, options)
  }
}

/** A node is not reachable or did not answer in time (transport-level). */
export class NodeUnavailableError extends QfsError {
  static readonly code = 'NODE_UNAVAILABLE'
  constructor(message: string, options?: ErrorOptions) {
    super(NodeUnavailableError.code, message, options)
  }
}

function codeOfError(e: unknown): string {
  return e instanceof QfsError ? e.code : 'INTERNAL'
}

/** The codes of peers' failures, counted for an operator: `NOT_ELIGIBLE x3, TIMEOUT`; '' for none. */
export function countedCodes(errors: readonly unknown[]): string {
  const counts = new Map<string, number>()
  for (const c of errors.map(codeOfError)) counts.set(c, (counts.get(c) ?? 0) + 1)
  return [...counts].map(([c, n]) => (n > 1 ? `${c} x${n}` : c)).join(', ')
}

/**
 * Why a shard was staged on fewer replicas than the write needs. When every replica that failed
 * said it is full, the network is out of room (STORAGE_FULL, not worth retrying at once); otherwise
 * it is a quorum failure, and the detail counts the replicas' codes so an operator sees the cause.
 */
export function stageShortfall(
  shardIndex: number,
  staged: number,
  asked: number,
  errors: unknown[],
): QfsError {
  const codes = errors.map(codeOfError)
  const why = countedCodes(errors)
  const message = `shard ${shardIndex} reached ${staged} of ${asked} replicas${why === '' ? '' : ` (${why})`}`
  // A replica cut off (CUT_SHORT) was only not waited for; the others decide the class.
  const refusals = codes.filter((c) => c !== CutShortError.code)
  if (refusals.length > 0 && refusals.every((c) => c === StorageFullError.code))
    return new StorageFullError(message)
  return new QuorumNotReachedError(message)
}
