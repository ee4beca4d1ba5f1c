import { InvalidInputError } from '../core/errors.js'
import type { ShardHeader, StagedShardInfo } from '../engine/transport.js'
import type { WireError } from './errors.js'
import { checkWireError, MAX_DATA_BYTES } from './frames.js'
import {
  countField,
  exact,
  type Fields,
  parseShardHeader,
  parseStagedShardInfo,
  plainObject,
} from './messages.js'

/**
 * The replica channel (docs/protocol.md "replica/rpc"): long-lived streams between a pair of nodes that
 * carry many small requests, each tagged with an id, answered in any order. It exists because a
 * libp2p stream is not free: opening one negotiates the protocol, updates the peer store and builds
 * a muxer stream at both ends, which cost more CPU than the small requests it carried (a 4 KiB write
 * made about twenty of them).
 */

export const RPC_OPS = ['record', 'commit', 'abort', 'prove', 'stage', 'fetch', 'snapshot'] as const
export type RpcOp = (typeof RPC_OPS)[number]

/** Most bytes one stage request carries (its shards' bytes, in DATA frames after the request). */
export const MAX_INLINE_SHARD_BYTES = 256 * 1024
/**
 * Most shards one stage request carries. A node holds at most one shard per index of a version, so
 * this is a bound on hostile requests, not on writes (NUM_SHARDS_PER_OBJECT is 4).
 */
export const MAX_STAGE_SHARDS = 16
/** Requests a server runs at once on one channel; it stops reading while that many are in flight. */
export const MAX_RPC_IN_FLIGHT = 64
/**
 * Inline shard bytes a server holds for one channel's requests in flight; it stops reading beyond.
 * With MAX_INBOUND_RPC_CHANNELS this bounds what one peer can make a node hold to 16 MiB.
 */
export const MAX_RPC_INLINE_BYTES_IN_FLIGHT = 4 * 1024 * 1024
/**
 * Replica channels a node accepts per connection: one is what a peer keeps; more cover a reopen
 * while an old one is still closing.
 */
export const MAX_INBOUND_RPC_CHANNELS = 4
/** Request ids are u32; a client wraps around and never reuses one still in flight. */
export const MAX_RPC_ID = 0xffff_ffff
/**
 * The largest snapshot a `snapshot` answer carries, as canonical JSON: its reply must fit one JSON
 * frame (MAX_FRAME_BYTES, the limit a client reads answers with), and 1 KiB is left for the reply
 * around it (`{"body":{"snapshot":...},"data":false,"id":...,"ok":true}` takes 61 bytes). A node
 * listed with one address takes about 4 KiB (its ML-DSA key is 3904 hex characters) besides 11 KB
 * for the rest, so this is about 250 nodes. A larger snapshot is refused per request
 * (FRAME_TOO_LARGE): written, its reply would fail the whole channel at the client.
 */
export const MAX_SNAPSHOT_ANSWER_BYTES = MAX_DATA_BYTES - 1024

export interface RpcRequest {
  id: number
  op: RpcOp
  body: Fields
}

export type RpcReply =
  | { id: number; ok: true; body: Fields; data: boolean }
  | { id: number; ok: false; error: WireError }

function rpcId(value: unknown): number {
  const id = countField(value, 'id')
  if (id > MAX_RPC_ID) throw new InvalidInputError(`id must be at most ${MAX_RPC_ID}`)
  return id
}

/** The id of a request frame, if it has a usable one: what an answer to a bad request is tagged with. */
export function requestIdOf(value: unknown): number | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
  try {
    return rpcId((value as Fields).id)
  } catch {
    return undefined
  }
}

export function parseRpcRequest(value: unknown): RpcRequest {
  const r = exact(value, 'rpc request', ['id', 'op', 'body'])
  const id = rpcId(r.id)
  if (typeof r.op !== 'string' || !(RPC_OPS as readonly string[]).includes(r.op)) {
    throw new InvalidInputError(`op must be one of ${RPC_OPS.join(', ')}`)
  }
  return { id, op: r.op as RpcOp, body: plainObject(r.body, 'body') }
}

export function parseRpcReply(value: unknown): RpcReply {
  const r = value as Fields
  if (r !== null && typeof r === 'object' && r.ok === false) {
    const e = exact(value, 'rpc reply', ['id', 'ok', 'error'])
    return { id: rpcId(e.id), ok: false, error: checkWireError(e.error) }
  }
  const s = exact(value, 'rpc reply', ['id', 'ok', 'body', 'data'])
  if (s.ok !== true) throw new InvalidInputError('ok must be true or false')
  if (typeof s.data !== 'boolean') throw new InvalidInputError('data must be a boolean')
  return { id: rpcId(s.id), ok: true, body: plainObject(s.body, 'body'), data: s.data }
}

/**
 * The byte count of each shard a stage request announces, read before its bytes so they can be
 * consumed whatever else is wrong with the request. Throws when the bytes cannot be delimited.
 */
export function stageLengths(body: unknown): number[] {
  const shards = plainObject(body, 'body').shards
  if (!Array.isArray(shards) || shards.length === 0 || shards.length > MAX_STAGE_SHARDS)
    throw new InvalidInputError(`shards must be a list of 1 to ${MAX_STAGE_SHARDS} shard headers`)
  const lengths = shards.map((h, i) =>
    countField(plainObject(h, `shards[${i}]`).length, `shards[${i}].length`),
  )
  const total = lengths.reduce((a, b) => a + b, 0)
  if (total > MAX_INLINE_SHARD_BYTES)
    throw new InvalidInputError(`a stage request of ${total} bytes exceeds ${MAX_INLINE_SHARD_BYTES}`)
  return lengths
}

/** The headers of a stage request (`{shards: [header, ...]}`), in the order their bytes follow. */
export function parseStageRequest(body: unknown): ShardHeader[] {
  const r = exact(body, 'stage request', ['shards'])
  stageLengths(r)
  return (r.shards as unknown[]).map((h) => parseShardHeader(h))
}

/** A stage answer: one staged shard per header asked, in order, each naming `nodeId` and its shard. */
export function parseStageReply(
  body: unknown,
  headers: readonly ShardHeader[],
  nodeId: string,
): StagedShardInfo[] {
  const r = exact(body, 'stage answer', ['staged'])
  if (!Array.isArray(r.staged) || r.staged.length !== headers.length)
    throw new InvalidInputError(`staged must list the ${headers.length} shards asked for`)
  return r.staged.map((s, i) => {
    const staged = parseStagedShardInfo(s)
    if (staged.node_id !== nodeId || staged.shard_id !== headers[i]!.shard_id)
      throw new InvalidInputError('staged answer names another node or shard')
    return staged
  })
}

/** A `snapshot` request (`{epoch}`): the epoch whose signed snapshot the caller asks for. */
export function parseSnapshotRequest(body: unknown): number {
  return countField(exact(body, 'snapshot request', ['epoch']).epoch, 'epoch')
}

/**
 * A `snapshot` answer (`{snapshot}`): the object only, unverified. The caller verifies it as any
 * snapshot (SnapshotMembership.remember): a peer could send anything here.
 */
export function parseSnapshotReply(body: unknown): Fields {
  return plainObject(exact(body, 'snapshot answer', ['snapshot']).snapshot, 'snapshot')
}
