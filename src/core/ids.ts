import { lp, parseId, utf8 } from './bytes.js'
import { isWellFormedText } from './canonical.js'
import { InvalidInputError } from './errors.js'
import { sha3Hex } from './hash.js'

/** PROTOCOL.md "Identifiers": `object_id = H(lp(utf8(namespace)) || lp(utf8(client_id)))`, as hex. */
export function objectId(namespace: string, clientId: string): string {
  return sha3Hex(lp(utf8(text(namespace, 'namespace'))), lp(utf8(text(clientId, 'client_id'))))
}

/**
 * `shard_id = H(utf8(object_id + ":" + dec(version) + ":" + dec(shard_index)))`, the QFS interface
 * spec's `SHA3-256(f"{object_id}:{version}:{shard_index}")`, as hex. A safe integer's template form is
 * its plain decimal (exponent notation starts at 1e21), so `${n}` is `dec(n)`.
 */
export function shardId(objectId: string, version: number, shardIndex: number): string {
  parseId(objectId, 'object_id')
  const v = validateVersion(version)
  if (typeof shardIndex !== 'number' || !Number.isSafeInteger(shardIndex) || shardIndex < 0) {
    throw new InvalidInputError('shard_index must be a non-negative safe integer')
  }
  return sha3Hex(utf8(`${objectId}:${v}:${shardIndex}`))
}

/** Versions start at 1 and stay within what a JSON number carries exactly (`INVALID_INPUT` otherwise). */
export function validateVersion(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new InvalidInputError('version must be a safe integer >= 1')
  }
  return v
}

// TextEncoder would turn a lone surrogate into U+FFFD, so two different strings would share an id.
function text(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new InvalidInputError(`${what} must be a string`)
  if (!isWellFormedText(value)) throw new InvalidInputError(`${what} contains a lone surrogate`)
  return value
}
