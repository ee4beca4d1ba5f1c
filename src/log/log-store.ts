import type { AbstractBatchOperation, AbstractLevel, AbstractSublevel } from 'abstract-level'
import { parseId } from '../core/bytes.js'
import { InvalidInputError } from '../core/errors.js'
import type { MerkleTree } from '../core/merkle.js'
import {
  batchTree,
  type Coverage,
  coverageOf,
  parseSignedCheckpoint,
  type SignedCheckpoint,
} from './checkpoint.js'
import { LogCorruptError } from './errors.js'
import { parseStorageEvent, type StorageEvent } from './event.js'

/**
 * The log's layout in the node's database, and reads over it. Entries live in sublevel `log` under
 * their seq, checkpoints in sublevel `ckpt` under their last_seq (so the checkpoint covering seq s is
 * the first at or after s); both as UTF-8 JSON. Keys are zero-padded to the 16 digits of 2^53-1 so
 * they sort by seq.
 */

// biome-ignore lint/suspicious/noExplicitAny: the log works with any abstract-level root (classic, memory).
export type RootDb = AbstractLevel<any, any, any>
// biome-ignore lint/suspicious/noExplicitAny: the caller's ops target its own sublevels and encodings.
export type LogBatchOperation = AbstractBatchOperation<RootDb, any, any>
// biome-ignore lint/suspicious/noExplicitAny: the sublevel's parent format is the root's.
export type TextSublevel = AbstractSublevel<RootDb, any, string, string>

export const LOG_SUBLEVEL = 'log'
export const CHECKPOINT_SUBLEVEL = 'ckpt'

export function seqKey(seq: number): string {
  return String(seq).padStart(16, '0')
}

export function openLogSublevels(db: RootDb): { events: TextSublevel; ckpts: TextSublevel } {
  const text = { keyEncoding: 'utf8', valueEncoding: 'utf8' } as const
  return {
    events: db.sublevel<string, string>(LOG_SUBLEVEL, text),
    ckpts: db.sublevel<string, string>(CHECKPOINT_SUBLEVEL, text),
  }
}

export function checkSeq(seq: unknown): number {
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
    throw new InvalidInputError('seq must be a non-negative safe integer')
  }
  return seq
}

export function parseStoredEvent(key: string, value: string): StorageEvent {
  let e: StorageEvent
  try {
    e = parseStorageEvent(JSON.parse(value))
  } catch (err) {
    throw new LogCorruptError(`stored entry ${key} does not parse: ${(err as Error).message}`, { cause: err })
  }
  if (seqKey(e.seq) !== key) throw new LogCorruptError(`stored entry ${key} holds seq ${e.seq}`)
  return e
}

export function parseStoredCheckpoint(value: string): SignedCheckpoint {
  try {
    return parseSignedCheckpoint(JSON.parse(value))
  } catch (err) {
    throw new LogCorruptError(`stored checkpoint does not parse: ${(err as Error).message}`, { cause: err })
  }
}

export async function readEvent(events: TextSublevel, seq: number): Promise<StorageEvent | undefined> {
  const key = seqKey(checkSeq(seq))
  const value = await events.get(key)
  return value === undefined ? undefined : parseStoredEvent(key, value)
}

/** Entries from `from` through `to`, both inclusive. */
export async function* readEvents(
  events: TextSublevel,
  opts: { from?: number; to?: number } = {},
): AsyncGenerator<StorageEvent> {
  const range: { gte: string; lte?: string } = { gte: seqKey(checkSeq(opts.from ?? 0)) }
  if (opts.to !== undefined) range.lte = seqKey(checkSeq(opts.to))
  for await (const [key, value] of events.iterator(range)) yield parseStoredEvent(key, value)
}

export async function* readCheckpoints(ckpts: TextSublevel): AsyncGenerator<SignedCheckpoint> {
  for await (const value of ckpts.values()) yield parseStoredCheckpoint(value)
}

export async function lastCheckpoint(ckpts: TextSublevel): Promise<SignedCheckpoint | undefined> {
  for await (const value of ckpts.values({ reverse: true, limit: 1 })) return parseStoredCheckpoint(value)
  return undefined
}

/** The checkpoint covering entry `seq` with the leaf's audit path; undefined while no checkpoint covers it. */
export async function readCoverage(
  events: TextSublevel,
  ckpts: TextSublevel,
  seq: number,
): Promise<Coverage | undefined> {
  let cp: SignedCheckpoint | undefined
  for await (const value of ckpts.values({ gte: seqKey(checkSeq(seq)), limit: 1 }))
    cp = parseStoredCheckpoint(value)
  if (cp === undefined) return undefined
  if (cp.first_seq > seq) {
    throw new LogCorruptError(`no checkpoint covers entry ${seq} below checkpoint ${cp.checkpoint_seq}`)
  }
  return coverageOf(cp, await batchTreeOf(events, cp), seq - cp.first_seq)
}

/** Every entry; covered ones carry `pqc_signature` naming their checkpoint leaf, the uncovered tail null. */
export async function* readExport(events: TextSublevel, ckpts: TextSublevel): AsyncGenerator<StorageEvent> {
  let next = 0
  for await (const cp of readCheckpoints(ckpts)) {
    const tree = await batchTreeOf(events, cp)
    for await (const e of readEvents(events, { from: cp.first_seq, to: cp.last_seq })) {
      const { leaf_index, audit_path } = coverageOf(cp, tree, e.seq - cp.first_seq)
      yield {
        ...e,
        pqc_signature: { scheme: 'ML-DSA-65', checkpoint_id: cp.checkpoint_id, leaf_index, audit_path },
      }
    }
    next = cp.last_seq + 1
  }
  yield* readEvents(events, { from: next })
}

/** Values stored under keys below `seqKey(bound)`, parsed as JSON (null when they do not parse). */
export async function* rawValues(sublevel: TextSublevel, bound: number): AsyncGenerator<unknown> {
  for await (const value of sublevel.values({ lt: seqKey(bound) })) {
    let parsed: unknown = null
    try {
      parsed = JSON.parse(value)
    } catch {
      // A value that is not JSON is a bad entry at this position; verifyLog names it.
    }
    yield parsed
  }
}

async function batchTreeOf(events: TextSublevel, cp: SignedCheckpoint): Promise<MerkleTree> {
  const ids: Uint8Array[] = []
  for await (const e of readEvents(events, { from: cp.first_seq, to: cp.last_seq }))
    ids.push(parseId(e.event_id))
  if (ids.length !== cp.last_seq - cp.first_seq + 1) {
    throw new LogCorruptError(`entries of checkpoint ${cp.checkpoint_seq} are missing`)
  }
  return batchTree(ids)
}
