import { generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto'
import type { AcceptanceKeys } from '../engine/acceptance.js'

/**
 * Acceptance keys for nodes that share one process (the mini-network), whose ids are names, not
 * peer ids: one Ed25519 key pair per node id, made on first use, each node signing with its own.
 */
export class InProcessKeyring {
  private readonly pairs = new Map<string, { privateKey: KeyObject; publicKey: KeyObject }>()

  /** The keys node `nodeId` signs and verifies with. */
  keysOf(nodeId: string): AcceptanceKeys {
    const own = this.pair(nodeId)
    return {
      sign: async (message) => new Uint8Array(sign(null, message, own.privateKey)),
      verify: async (peer, message, signature) => {
        const pair = this.pairs.get(peer)
        return pair !== undefined && verify(null, message, pair.publicKey, signature)
      },
    }
  }

  private pair(nodeId: string) {
    let pair = this.pairs.get(nodeId)
    if (pair === undefined) {
      pair = generateKeyPairSync('ed25519')
      this.pairs.set(nodeId, pair)
    }
    return pair
  }
}
