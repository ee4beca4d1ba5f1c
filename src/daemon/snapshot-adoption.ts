/**
 * Which epoch snapshot the daemon runs with: the file's at start (or none, when allowed), and a new
 * epoch's from the same file on reload, refused when it would change what the running store relies on.
 */
import { equalBytes } from '../core/bytes.js'
import { canonicalBytes } from '../core/canonical.js'
import { type ProtocolParams, paramsToJson } from '../core/params.js'
import { NoSnapshotError, SnapshotRejectedError } from '../membership/errors.js'
import type { SnapshotMembership } from '../membership/snapshot-membership.js'
import type { NodeConfig } from './config.js'
import { MembershipChangeUnsupportedError, ParamsChangedError } from './errors.js'
import type { Logger } from './logger.js'
import { readSnapshotFile } from './snapshot-file.js'

/** The snapshot file at start; without one, or with one refused, the start fails unless allowNoSnapshot. */
export async function loadInitialSnapshot(
  config: NodeConfig,
  membership: SnapshotMembership,
  log: Logger,
): Promise<void> {
  try {
    const snapshot = await readSnapshotFile(config.snapshot)
    if (snapshot === undefined) {
      // With --allow-no-snapshot this is the warning's reason: advise the next step, not the flag.
      const next = config.allowNoSnapshot
        ? 'write one with qfs-node aegis sign, then send SIGHUP to load it'
        : 'write one with qfs-node aegis sign, or start with --allow-no-snapshot to wait for it'
      throw new NoSnapshotError(`no epoch snapshot at ${config.snapshot}; ${next}`)
    }
    const view = membership.accept(snapshot)
    log.info(
      { epoch: view.epoch, snapshot_hash: view.snapshotHash, nodes: view.eligible.size },
      'snapshot accepted',
    )
  } catch (err) {
    const explained = explainRejection(err, config)
    if (!config.allowNoSnapshot) throw explained
    log.warn(
      { reason: (explained as Error).message },
      'starting without an epoch snapshot: not ready until one is loaded',
    )
  }
}

function explainRejection(err: unknown, config: NodeConfig): unknown {
  if (!(err instanceof SnapshotRejectedError)) return err
  const hint =
    err.reason === 'UNTRUSTED_AUTHORITY' && config.trustedAuthorities.length === 0
      ? ' (no trusted_authorities are configured: add --trust KEY)'
      : ''
  return new SnapshotRejectedError(err.reason, `${config.snapshot}: ${err.detail}${hint}`, { cause: err })
}

/** Adopts the snapshot file when it holds a new epoch; the parameters must stay those the store runs with. */
export async function reloadSnapshot(
  config: NodeConfig,
  membership: SnapshotMembership,
  params: ProtocolParams,
  log: Logger,
): Promise<boolean> {
  const snapshot = await readSnapshotFile(config.snapshot)
  if (snapshot === undefined) return false
  const s = snapshot as { epoch?: unknown; snapshot_hash?: unknown; params?: unknown }
  // A snapshot already held (the one in force, or an older epoch) changes nothing.
  const held = typeof s.epoch === 'number' ? membership.snapshotAt(s.epoch) : undefined
  if (held !== undefined && held.snapshot_hash === s.snapshot_hash) return false
  if (!sameParams(s.params, params)) {
    throw new ParamsChangedError(
      `${config.snapshot} changes the protocol parameters the store runs with; restart the node to adopt it`,
    )
  }
  if (membership.latest !== undefined && !sameNodeSet(snapshot, membership.current().eligible.nodes)) {
    // Catalogue homes and replica sets follow the eligible list. Until the AEGIS handover moves
    // records and shards to a new list, changing it would hide stored versions from readers and let
    // new homes accept a second content for a version (docs/consistency.md, "Membership changes").
    throw new MembershipChangeUnsupportedError(
      `${config.snapshot} changes the eligible node set; this version of qfs-node supports new epochs with the same nodes only`,
    )
  }
  try {
    const view = membership.accept(snapshot)
    log.info({ epoch: view.epoch, snapshot_hash: view.snapshotHash }, 'snapshot accepted')
    return true
  } catch (err) {
    throw explainRejection(err, config)
  }
}

function sameParams(candidate: unknown, params: ProtocolParams): boolean {
  try {
    return equalBytes(canonicalBytes(candidate), canonicalBytes(paramsToJson(params)))
  } catch {
    return false
  }
}

function sameNodeSet(snapshot: unknown, current: readonly string[]): boolean {
  const nodes = (snapshot as { nodes?: unknown } | null)?.nodes
  if (!Array.isArray(nodes)) return true // malformed: accept() refuses it with its own code
  const ids = nodes.map((n) => (n as { node_id?: unknown })?.node_id)
  return ids.length === current.length && ids.every((id) => typeof id === 'string' && current.includes(id))
}
