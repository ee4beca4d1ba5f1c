import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { AcceptanceKeys } from '../engine/acceptance.js'

/** Node ids whose public key is kept; node ids come from records placed in the eligible set. */
const MAX_KEPT_KEYS = 4096

const ED25519_SIGNATURE_BYTES = 64

/** A key's verifier: an Ed25519 key's is node:crypto's with its key object built once. */
type Verifier = (message: Uint8Array, signature: Uint8Array) => Promise<boolean>

const b64url = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64url')

/**
 * Each `sign`/`verify` of @libp2p/crypto's Ed25519 keys rebuilds a node:crypto key object from JWK
 * (about as costly as the signature itself); a home signs, and a holder verifies, on every commit.
 * Ed25519 signatures are deterministic, so signing with a kept key object gives the same bytes.
 */
function ed25519Signer(privateKey: PrivateKey): ((message: Uint8Array) => Promise<Uint8Array>) | undefined {
  if (privateKey.type !== 'Ed25519' || privateKey.raw.length !== 64) return undefined
  const raw = privateKey.raw
  let key: KeyObject
  try {
    key = createPrivateKey({
      format: 'jwk',
      key: { kty: 'OKP', crv: 'Ed25519', d: b64url(raw.subarray(0, 32)), x: b64url(raw.subarray(32)) },
    })
  } catch {
    return undefined
  }
  return async (message) => sign(null, message, key)
}

function verifierOf(publicKey: PublicKey): Verifier {
  if (publicKey.type === 'Ed25519' && publicKey.raw.length === 32) {
    let key: KeyObject | undefined
    try {
      key = createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', x: b64url(publicKey.raw) } })
    } catch {
      key = undefined
    }
    if (key !== undefined) {
      const k = key
      // The library refuses (throws on) a signature of another length; such an acceptance verifies nothing.
      return async (message, signature) =>
        signature.length === ED25519_SIGNATURE_BYTES && verify(null, message, k, signature)
    }
  }
  return async (message, signature) => publicKey.verify(message, signature)
}

/**
 * Acceptance keys of a daemon: it signs with its libp2p private key, and a node id, being a peer id
 * of an Ed25519 key, carries the public key that checks it (an id that carries none verifies nothing).
 */
export function peerAcceptanceKeys(privateKey: PrivateKey): AcceptanceKeys {
  const kept = new Map<string, Verifier | null>()
  const verifierFor = (nodeId: string): Verifier | null => {
    let verifier = kept.get(nodeId)
    if (verifier !== undefined) return verifier
    try {
      const key = peerIdFromString(nodeId).publicKey
      verifier = key === undefined ? null : verifierOf(key)
    } catch {
      verifier = null
    }
    if (kept.size >= MAX_KEPT_KEYS) kept.clear()
    kept.set(nodeId, verifier)
    return verifier
  }
  const signer = ed25519Signer(privateKey) ?? (async (message: Uint8Array) => privateKey.sign(message))
  return {
    sign: signer,
    verify: async (nodeId, message, signature) => {
      const verifier = verifierFor(nodeId)
      return verifier !== null && (await verifier(message, signature))
    },
  }
}
