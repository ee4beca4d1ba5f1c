import { sha3_256 } from '@noble/hashes/sha3.js'
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js'
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js'
import { MemoryLevel } from 'memory-level'
import { InvalidInputError } from '../../src/core/errors.js'
import type { SignedCheckpoint } from '../../src/log/checkpoint.js'
import type { EventFields } from '../../src/log/event.js'
import { type AuditKey, generateAuditKey } from '../../src/log/keys.js'

/** One key for a whole test file: ML-DSA-65 keygen is ~45 ms. */
export const TEST_KEY: AuditKey = generateAuditKey(new Uint8Array(32).fill(7))
export const OTHER_KEY: AuditKey = generateAuditKey(new Uint8Array(32).fill(9))
export const NODE = 'node-a'

export function memoryDb(): MemoryLevel<string, string> {
  return new MemoryLevel<string, string>()
}

/**
 * Canonical JSON written apart from src/core/canonical.ts for the data events hold (strings,
 * safe integers, booleans, null, arrays, objects): keys sorted by UTF-16 code units as RFC 8785
 * §3.2.3 says, JSON.stringify for the scalars (identical to RFC 8785 for integers and strings).
 */
export function oracleCanonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(oracleCanonical).join(',')}]`
  const entries = Object.keys(value as object)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${oracleCanonical((value as Record<string, unknown>)[k])}`)
  return `{${entries.join(',')}}`
}

export function oracleHashHex(value: unknown): string {
  return bytesToHex(sha3_256(utf8ToBytes(oracleCanonical(value))))
}

/** The event id by the spec's words: hash of the canonical event without `event_id` and `pqc_signature`. */
export function oracleEventId(event: Record<string, unknown>): string {
  const { event_id: _id, pqc_signature: _sig, ...body } = event
  return oracleHashHex(body)
}

export function hexOf(i: number): string {
  return bytesToHex(sha3_256(utf8ToBytes(`fixture-${i}`)))
}

/** A realistic STORE: four shards, three replicas each, metadata in details. */
export function storeFields(i: number): EventFields {
  const shardIds = [0, 1, 2, 3].map((s) => hexOf(i * 10 + s))
  const replicaSets: Record<string, string[]> = {}
  shardIds.forEach((id, s) => {
    replicaSets[id] = [`node-${s % 5}`, `node-${(s + 1) % 5}`, `node-${(s + 2) % 5}`]
  })
  return {
    event_type: 'STORE',
    epoch: 3,
    timestamp_tick: 1000 + i,
    object_id: hexOf(1_000_000 + i),
    version: 1,
    hash_commit: hexOf(2_000_000 + i),
    content_size: 4096 + i,
    shard_ids: shardIds,
    replica_sets: replicaSets,
    atr_cost: '400.000000000000000000',
    error_code: null,
    error_detail: null,
    details: {
      metadata: {
        author_node_id: 'client-1',
        created_at_tick: 1000 + i,
        tags: ['alpha', 'beta'],
        openagi_score: null,
        atr_fee_events: [],
        aegis_telemetry_stub: null,
      },
    },
  }
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

/**
 * `c` with `change`, its id recomputed by the oracle and signed anew with `key` by noble directly:
 * a checkpoint whose signature verifies, as whoever holds the node's key could sign it.
 */
export function reSigned(
  c: SignedCheckpoint,
  change: Partial<SignedCheckpoint>,
  key: AuditKey = TEST_KEY,
): SignedCheckpoint {
  const { checkpoint_id: _id, signature: _sig, ...body } = { ...c, ...change }
  const id = oracleHashHex(body)
  const signature = ml_dsa65.sign(new Uint8Array(Buffer.from(id, 'hex')), key.secretKey, {
    context: new TextEncoder().encode('qfs-eqm-checkpoint/1'),
  })
  return { ...body, checkpoint_id: id, signature: bytesToHex(signature) }
}

/** The code of the InvalidInputError `fn` throws; undefined when it returns; NOT_INVALID_INPUT for any other throw. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    return err instanceof InvalidInputError ? err.code : 'NOT_INVALID_INPUT'
  }
}
