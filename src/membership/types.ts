import type { ProtocolParams } from '../core/params.js'
import type { EligibleSet } from '../core/placement.js'

/** A node as an epoch snapshot lists it. */
export interface NodeEntry {
  node_id: string
  multiaddrs: string[]
  /** ML-DSA-65 public key of the node's audit log, hex. */
  mldsa_public_key: string
}

/** Everything placement and audits need to know about one epoch. */
export interface EpochView {
  readonly epoch: number
  readonly startTick: number
  readonly eligible: EligibleSet
  readonly nodes: ReadonlyMap<string, NodeEntry>
  readonly params: ProtocolParams
  /** The snapshot hash that seeds the epoch's storage challenges (PROTOCOL.md). */
  readonly snapshotHash: string
}

/**
 * Who is eligible in which epoch. Today a signed snapshot file; the AEGIS issue makes it a live
 * chain of snapshots. Writes place with the epoch they are written in, so `at(epoch)` must keep
 * answering for epochs that have passed.
 */
export interface Membership {
  current(): EpochView
  at(epoch: number): EpochView | undefined
}
