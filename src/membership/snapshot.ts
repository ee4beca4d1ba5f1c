import { peerIdFromString } from '@libp2p/peer-id'
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js'
import { compareUtf8, concatBytes, fromHex, isId, toHex, utf8 } from '../core/bytes.js'
import { canonicalBytes, isWellFormedText } from '../core/canonical.js'
import { InvalidInputError } from '../core/errors.js'
import { sha3Hex } from '../core/hash.js'
import { DEFAULT_PARAMS, type ProtocolParams, paramsToJson, validateParams } from '../core/params.js'
import { EligibleSet } from '../core/placement.js'
import type { SnapshotVerdictCode } from './errors.js'
import type { EpochView, NodeEntry } from './types.js'

export const SNAPSHOT_SCHEMA = 'qfs-epoch-snapshot/1'
/** What the authority signs is this domain tag followed by the raw snapshot hash. */
const SIGNING_DOMAIN = utf8(SNAPSHOT_SCHEMA)
/** `prev_snapshot_hash` of the first snapshot of a chain. */
export const GENESIS_PREV_HASH = '0'.repeat(64)

// FIPS 204 ML-DSA-65 sizes: a 1952-byte public key and a 3309-byte signature.
const PUBLIC_KEY_HEX = 2 * 1952
const SIGNATURE_HEX = 2 * 3309
const MAX_NODE_ID_BYTES = 128
const MAX_MULTIADDRS = 32
const MAX_MULTIADDR_CHARS = 1024
const MAX_NODES = 100_000
const PARAM_KEYS = [
  'block_size_bytes',
  'num_shards_per_object',
  'replication_factor',
  'schema_version',
] as const
const BODY_KEYS = [
  'schema',
  'epoch',
  'start_tick',
  'params',
  'nodes',
  'prev_snapshot_hash',
  'authority_public_key',
]
const SIGNED_KEYS = [...BODY_KEYS, 'snapshot_hash', 'signature']
const NODE_KEYS = ['node_id', 'multiaddrs', 'mldsa_public_key']

/** Everything the snapshot hash covers. */
export interface SnapshotBody {
  schema: typeof SNAPSHOT_SCHEMA
  epoch: number
  start_tick: number
  /** The governed protocol parameters of the epoch, snake_case. */
  params: Record<(typeof PARAM_KEYS)[number], number>
  /** Sorted by node id UTF-8 bytes, no duplicates. */
  nodes: NodeEntry[]
  prev_snapshot_hash: string
  /** ML-DSA-65 public key of the AEGIS authority that signs, hex. */
  authority_public_key: string
}

/** A signed `qfs-epoch-snapshot/1`. */
export interface EpochSnapshot extends SnapshotBody {
  snapshot_hash: string
  signature: string
}

/** The signing half of an authority key (an ML-DSA-65 key pair; an AuditKey fits). */
export interface AuthorityKey {
  publicKey: Uint8Array
  secretKey: Uint8Array
}

export interface SnapshotInit {
  epoch: number
  startTick: number
  nodes: readonly NodeEntry[]
  params?: ProtocolParams
  /** The snapshot this one follows; omitted for the first of a chain. */
  previous?: Pick<EpochSnapshot, 'snapshot_hash'>
  authorityPublicKey: Uint8Array | string
}

export type SnapshotVerdict =
  | { ok: true; snapshot: EpochSnapshot }
  | { ok: false; code: SnapshotVerdictCode; detail: string }

class Malformed extends Error {}

/** An unsigned snapshot body: nodes sorted, every field checked (`INVALID_INPUT` otherwise). */
export function createSnapshot(init: SnapshotInit): SnapshotBody {
  const authority =
    typeof init.authorityPublicKey === 'string' ? init.authorityPublicKey : toHex(init.authorityPublicKey)
  const body = {
    schema: SNAPSHOT_SCHEMA,
    epoch: init.epoch,
    start_tick: init.startTick,
    params: paramsToJson(init.params ?? DEFAULT_PARAMS),
    nodes: [...init.nodes]
      .map((n) => ({
        node_id: n.node_id,
        multiaddrs: [...n.multiaddrs],
        mldsa_public_key: n.mldsa_public_key,
      }))
      .sort((a, b) => compareUtf8(a.node_id, b.node_id)),
    prev_snapshot_hash: init.previous?.snapshot_hash ?? GENESIS_PREV_HASH,
    authority_public_key: authority,
  }
  return checkedBody(body)
}

/** `hex(SHA3-256(JCS(body)))` over every field but `snapshot_hash` and `signature`. */
export function computeSnapshotHash(body: SnapshotBody): string {
  const covered: Record<string, unknown> = {}
  for (const key of BODY_KEYS) covered[key] = body[key as keyof SnapshotBody]
  return sha3Hex(canonicalBytes(covered))
}

/** Signs a body with the authority key it names. */
export function signSnapshot(body: SnapshotBody, key: AuthorityKey): EpochSnapshot {
  const checked = checkedBody(body)
  if (toHex(key.publicKey) !== checked.authority_public_key) {
    throw new InvalidInputError('the signing key is not the snapshot authority_public_key')
  }
  const snapshotHash = computeSnapshotHash(checked)
  const signature = ml_dsa65.sign(signingMessage(snapshotHash), key.secretKey)
  return { ...checked, snapshot_hash: snapshotHash, signature: toHex(signature) }
}

function checkedBody(body: unknown): SnapshotBody {
  try {
    return parseBody(body)
  } catch (err) {
    if (err instanceof Malformed) throw new InvalidInputError(`snapshot: ${err.message}`)
    throw err
  }
}

function signingMessage(snapshotHash: string): Uint8Array {
  return concatBytes([SIGNING_DOMAIN, fromHex(snapshotHash)])
}

/**
 * The verdict on a snapshot from anywhere (a file, the wire): well formed, hash recomputed, signed
 * by one of `trustedKeys` (hex or bytes), and, given `previous`, its direct successor
 * (`epoch = previous.epoch + 1`, `prev_snapshot_hash = previous.snapshot_hash`, a later start tick).
 * Never throws.
 */
export function verifySnapshot(
  snapshot: unknown,
  trustedKeys: readonly (string | Uint8Array)[],
  previous?: EpochSnapshot,
): SnapshotVerdict {
  let s: EpochSnapshot
  try {
    s = parseSnapshot(snapshot)
  } catch (err) {
    return {
      ok: false,
      code: 'MALFORMED',
      detail: err instanceof Malformed ? err.message : 'not a JSON snapshot',
    }
  }
  const hash = computeSnapshotHash(s)
  if (hash !== s.snapshot_hash) {
    return {
      ok: false,
      code: 'HASH_MISMATCH',
      detail: `snapshot_hash is not the hash of the contents (${hash})`,
    }
  }
  const trusted = new Set(trustedKeys.map((k) => (typeof k === 'string' ? k.toLowerCase() : toHex(k))))
  if (!trusted.has(s.authority_public_key)) {
    return {
      ok: false,
      code: 'UNTRUSTED_AUTHORITY',
      detail: `authority ${sha3Hex(fromHex(s.authority_public_key)).slice(0, 16)}… is not a trusted authority`,
    }
  }
  let valid = false
  try {
    valid = ml_dsa65.verify(fromHex(s.signature), signingMessage(hash), fromHex(s.authority_public_key))
  } catch {
    valid = false
  }
  if (!valid)
    return {
      ok: false,
      code: 'BAD_SIGNATURE',
      detail: 'the signature does not verify under the authority key',
    }
  return previous === undefined ? { ok: true, snapshot: s } : chainVerdict(s, previous)
}

/**
 * Whether a verified snapshot is the direct successor of `previous`: `epoch = previous.epoch + 1`,
 * `prev_snapshot_hash = previous.snapshot_hash`, a later start tick (`BROKEN_CHAIN` otherwise).
 */
export function chainVerdict(s: EpochSnapshot, previous: EpochSnapshot): SnapshotVerdict {
  if (s.epoch !== previous.epoch + 1) {
    return {
      ok: false,
      code: 'BROKEN_CHAIN',
      detail: `epoch ${s.epoch} does not follow epoch ${previous.epoch}`,
    }
  }
  if (s.prev_snapshot_hash !== previous.snapshot_hash) {
    return {
      ok: false,
      code: 'BROKEN_CHAIN',
      detail: `prev_snapshot_hash is not epoch ${previous.epoch}'s hash`,
    }
  }
  if (s.start_tick <= previous.start_tick) {
    return {
      ok: false,
      code: 'BROKEN_CHAIN',
      detail: `start_tick ${s.start_tick} is not after ${previous.start_tick}`,
    }
  }
  return { ok: true, snapshot: s }
}

/** The structure of a signed snapshot, without checking hash or signature; throws on any deviation. */
function parseSnapshot(value: unknown): EpochSnapshot {
  const o = object(value, 'snapshot', SIGNED_KEYS)
  const body = parseBody(Object.fromEntries(BODY_KEYS.map((k) => [k, o[k]])))
  if (!isId(o.snapshot_hash)) throw new Malformed('snapshot_hash must be 64 lower-case hex characters')
  if (
    typeof o.signature !== 'string' ||
    o.signature.length !== SIGNATURE_HEX ||
    !/^[0-9a-f]*$/.test(o.signature)
  ) {
    throw new Malformed(`signature must be ${SIGNATURE_HEX} lower-case hex characters`)
  }
  return { ...body, snapshot_hash: o.snapshot_hash, signature: o.signature }
}

function parseBody(value: unknown): SnapshotBody {
  const o = object(value, 'snapshot', BODY_KEYS, true)
  if (o.schema !== SNAPSHOT_SCHEMA) throw new Malformed(`schema must be ${SNAPSHOT_SCHEMA}`)
  const epoch = count(o.epoch, 'epoch')
  const startTick = count(o.start_tick, 'start_tick')
  const p = object(o.params, 'params', PARAM_KEYS)
  const params = Object.fromEntries(
    PARAM_KEYS.map((k) => [k, count(p[k], `params.${k}`)]),
  ) as SnapshotBody['params']
  try {
    validateParams(paramsFromJson(params))
  } catch (err) {
    throw new Malformed(`params: ${(err as Error).message}`)
  }
  if (!Array.isArray(o.nodes) || o.nodes.length === 0 || o.nodes.length > MAX_NODES) {
    throw new Malformed(`nodes must be an array of 1..${MAX_NODES} entries`)
  }
  const nodes = o.nodes.map((n, i) => parseNode(n, `nodes[${i}]`))
  for (let i = 1; i < nodes.length; i++) {
    if (compareUtf8(nodes[i - 1]!.node_id, nodes[i]!.node_id) >= 0) {
      throw new Malformed('nodes must be sorted by node_id UTF-8 bytes without duplicates')
    }
  }
  if (!isId(o.prev_snapshot_hash))
    throw new Malformed('prev_snapshot_hash must be 64 lower-case hex characters')
  return {
    schema: SNAPSHOT_SCHEMA,
    epoch,
    start_tick: startTick,
    params,
    nodes,
    prev_snapshot_hash: o.prev_snapshot_hash,
    authority_public_key: publicKeyHex(o.authority_public_key, 'authority_public_key'),
  }
}

function parseNode(value: unknown, path: string): NodeEntry {
  const o = object(value, path, NODE_KEYS)
  const id = o.node_id
  if (
    typeof id !== 'string' ||
    id === '' ||
    !isWellFormedText(id) ||
    Buffer.byteLength(id) > MAX_NODE_ID_BYTES
  ) {
    throw new Malformed(`${path}.node_id must be a well-formed string of 1..${MAX_NODE_ID_BYTES} UTF-8 bytes`)
  }
  // docs/protocol.md 1: node id = peer id. Any other id is placed on but can never be dialled.
  if (!isPeerIdText(id)) {
    throw new Malformed(`${path}.node_id ${JSON.stringify(id)} is not a libp2p peer id in its standard form`)
  }
  // A home's acceptances are checked with the public key its id carries (docs/protocol.md 4.7): an
  // RSA peer id carries none, so such a node could never vouch for a record.
  if (!isEd25519PeerIdText(id)) {
    throw new Malformed(`${path}.node_id ${JSON.stringify(id)} is not the peer id of an Ed25519 key`)
  }
  const addrs = o.multiaddrs
  if (!Array.isArray(addrs) || addrs.length > MAX_MULTIADDRS) {
    throw new Malformed(`${path}.multiaddrs must be an array of at most ${MAX_MULTIADDRS} multiaddrs`)
  }
  for (const a of addrs as unknown[]) {
    if (
      typeof a !== 'string' ||
      !a.startsWith('/') ||
      a.length > MAX_MULTIADDR_CHARS ||
      !isWellFormedText(a)
    ) {
      throw new Malformed(`${path}.multiaddrs holds something that is not a multiaddr string`)
    }
  }
  return {
    node_id: id,
    multiaddrs: [...(addrs as string[])],
    mldsa_public_key: publicKeyHex(o.mldsa_public_key, `${path}.mldsa_public_key`),
  }
}

/** True when `text` is the peer id of an Ed25519 key, which carries its public key. */
export function isEd25519PeerIdText(text: string): boolean {
  try {
    return peerIdFromString(text).type === 'Ed25519'
  } catch {
    return false
  }
}

/** True when `text` is a libp2p peer id written as `peerId.toString()` writes it (base58btc). */
export function isPeerIdText(text: string): boolean {
  try {
    return peerIdFromString(text).toString() === text
  } catch {
    return false
  }
}

function object(
  value: unknown,
  path: string,
  keys: readonly string[],
  allowMissing = false,
): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new Malformed(`${path} must be an object`)
  const o = value as Record<string, unknown>
  for (const k of Object.keys(o))
    if (!keys.includes(k)) throw new Malformed(`${path} has an unknown field ${k}`)
  if (!allowMissing) for (const k of keys) if (!(k in o)) throw new Malformed(`${path}.${k} is missing`)
  return o
}

function count(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Malformed(`${path} must be a safe non-negative integer`)
  }
  return value
}

function publicKeyHex(value: unknown, path: string): string {
  if (typeof value !== 'string' || value.length !== PUBLIC_KEY_HEX || !/^[0-9a-f]*$/.test(value)) {
    throw new Malformed(
      `${path} must be an ML-DSA-65 public key (${PUBLIC_KEY_HEX} lower-case hex characters)`,
    )
  }
  return value
}

function paramsFromJson(p: SnapshotBody['params']): ProtocolParams {
  return {
    blockSizeBytes: p.block_size_bytes,
    numShardsPerObject: p.num_shards_per_object,
    replicationFactor: p.replication_factor,
    schemaVersion: p.schema_version,
  }
}

/** The view placement and audits use, from a verified snapshot. */
export function epochViewOf(snapshot: EpochSnapshot): EpochView {
  return Object.freeze({
    epoch: snapshot.epoch,
    startTick: snapshot.start_tick,
    eligible: new EligibleSet(snapshot.nodes.map((n) => n.node_id)),
    nodes: new Map(snapshot.nodes.map((n) => [n.node_id, n])),
    params: validateParams(paramsFromJson(snapshot.params)),
    snapshotHash: snapshot.snapshot_hash,
  })
}
