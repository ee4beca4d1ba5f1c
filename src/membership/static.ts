import { utf8 } from '../core/bytes.js'
import { canonicalJson } from '../core/canonical.js'
import { InvalidInputError } from '../core/errors.js'
import { sha3Hex } from '../core/hash.js'
import { DEFAULT_PARAMS, type ProtocolParams } from '../core/params.js'
import { EligibleSet } from '../core/placement.js'
import type { EpochView, Membership, NodeEntry } from './types.js'

/** A fixed node list for one epoch: the in-process mini-network and tests. */
export class StaticMembership implements Membership {
  private readonly view: EpochView

  constructor(init: {
    nodes: readonly (string | NodeEntry)[]
    epoch?: number
    startTick?: number
    params?: ProtocolParams
  }) {
    const entries = init.nodes.map((n) =>
      typeof n === 'string' ? { node_id: n, multiaddrs: [], mldsa_public_key: '' } : n,
    )
    const eligible = new EligibleSet(entries.map((e) => e.node_id))
    if (eligible.size !== entries.length) throw new InvalidInputError('duplicate node id in membership')
    const epoch = init.epoch ?? 0
    const params = init.params ?? DEFAULT_PARAMS
    this.view = {
      epoch,
      startTick: init.startTick ?? 0,
      eligible,
      nodes: new Map(entries.map((e) => [e.node_id, e])),
      params,
      snapshotHash: sha3Hex(utf8(canonicalJson({ epoch, nodes: eligible.nodes }))),
    }
  }

  current(): EpochView {
    return this.view
  }

  at(epoch: number): EpochView | undefined {
    return epoch === this.view.epoch ? this.view : undefined
  }
}
