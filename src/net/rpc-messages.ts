import { InvalidInputError } from '../core/errors.js'
import type { WireError } from './errors.js'
import { checkWireError } from './frames.js'
import { countField, exact, type Fields, plainObject } from './messages.js'

/**
 * The replica channel (docs/protocol.md "replica/rpc"): one long-lived stream per pair of nodes that
 * carries many small requests, each tagged with an id, answered in any order. It exists because a
 * libp2p stream is not free: opening one negotiates the protocol, updates the peer store and builds
 * a muxer stream at both ends, which cost more CPU than the small requests it carried (a 4 KiB write
 * made about twenty of them).
 */

export const RPC_OPS = ['record', 'commit', 'abort', 'prove', 'stage', 'fetch'] as const
export type RpcOp = (typeof RPC_OPS)[number]

/** Largest shard staged inline (its bytes in one DATA frame after the request). */
export const MAX_INLINE_SHARD_BYTES = 256 * 1024
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
