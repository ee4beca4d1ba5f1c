import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { AcceptanceKeys } from '../engine/acceptance.js'

/** Node ids whose public key is kept; node ids come from records placed in the eligible set. */
const MAX_KEPT_KEYS = 4096

/**
 * Acceptance keys of a daemon: it signs with its libp2p private key, and a node id, being a peer id
 * of an Ed25519 key, carries the public key that checks it (an id that carries none verifies nothing).
 */
export function peerAcceptanceKeys(privateKey: PrivateKey): AcceptanceKeys {
  const kept = new Map<string, PublicKey | null>()
  const publicKeyOf = (nodeId: string): PublicKey | null => {
    let key = kept.get(nodeId)
    if (key !== undefined) return key
    try {
      key = peerIdFromString(nodeId).publicKey ?? null
    } catch {
      key = null
    }
    if (kept.size >= MAX_KEPT_KEYS) kept.clear()
    kept.set(nodeId, key)
    return key
  }
  return {
    sign: async (message) => privateKey.sign(message),
    verify: async (nodeId, message, signature) => {
      const key = publicKeyOf(nodeId)
      return key !== null && (await key.verify(message, signature))
    },
  }
}
