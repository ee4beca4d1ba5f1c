import type { VersionRecord } from '../core/record.js'
import type { Membership } from '../membership/types.js'

/** Why a record's lists are not the placement of its epoch; none when they are. */
export type PlacementProblem = { epochUnknown: boolean; reason: string }

/**
 * Checks that a record names as catalogue homes and as each shard's replicas exactly the nodes the
 * placement formula gives in the record's epoch (docs/protocol.md "Placement"). A record reaches a
 * node from any eligible peer (a coordinator's commit, a lookup's answer): were its lists taken as
 * given, one peer could make nodes that are no home keep and vote for a version nobody decided, and
 * split what a listing and a read each see.
 */
export function placementProblem(
  record: VersionRecord,
  membership: Membership,
): PlacementProblem | undefined {
  const view = membership.at(record.epoch)
  if (view === undefined) {
    return { epochUnknown: true, reason: `no eligibility snapshot for the record's epoch ${record.epoch}` }
  }
  const rf = view.params.replicationFactor
  if (!sameIds(record.catalogue_homes, view.eligible.catalogueHomes(record.object_id, rf))) {
    return {
      epochUnknown: false,
      reason: `catalogue_homes are not the object's homes in epoch ${record.epoch}`,
    }
  }
  for (const s of record.shards) {
    if (!sameIds(s.replicas, view.eligible.place(s.shard_id, rf).selected)) {
      return {
        epochUnknown: false,
        reason: `shard ${s.shard_index}: replicas are not its placement in epoch ${record.epoch}`,
      }
    }
  }
  return undefined
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i])
}
