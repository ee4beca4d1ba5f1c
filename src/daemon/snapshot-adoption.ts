/**
 * Which epoch snapshot the daemon runs with: the file's at start (or none, when allowed), and a new
 * epoch's from the same file on reload, refused when it would change what the running store relies on.
 * Every snapshot is verified before anything about it is compared, and the one adopted is saved as
 * the data directory's head, so a restart neither goes back an epoch nor changes the eligible set.
 */
import { equalBytes } from '../core/bytes.js'
import { canonicalBytes } from '../core/canonical.js'
import { type ProtocolParams, paramsToJson } from '../core/params.js'
import {
  NoSnapshotError,
  ParamsUnsupportedError,
  SnapshotRejectedError,
  SnapshotUnreadableError,
} from '../membership/errors.js'
import type { EpochSnapshot } from '../membership/snapshot.js'
import { headOf, judgeAgainstHead, type SnapshotHead } from '../membership/snapshot-head.js'
import type { SnapshotMembership } from '../membership/snapshot-membership.js'
import { MAX_DATA_BYTES } from '../net/frames.js'
import type { NodeConfig } from './config.js'
import { MembershipChangeUnsupportedError, ParamsChangedError } from './errors.js'
import type { Logger } from './logger.js'
import {
  listSnapshotHistory,
  readSavedSnapshot,
  readSnapshotFile,
  readSnapshotHead,
  writeSnapshotHead,
  writeSnapshotHistory,
} from './snapshot-file.js'

/**
 * What a storage proof may take of its JSON frame besides the block: a `get_proof` answer's ids, a
 * 32-step audit path, counts, and up to 64 assigned node ids of at most 128 characters come to
 * about 12 KiB (test/daemon/snapshot-params.test.ts encodes the largest); 64 KiB leaves room.
 */
const PROOF_FRAME_OVERHEAD_BYTES = 64 * 1024
/**
 * The largest block a node can prove to a peer or a client: a proof carries its block, base64, in
 * one JSON frame of at most MAX_DATA_BYTES (1 MiB) (`replica/prove`, `get_proof`, docs/protocol.md),
 * so 720 KiB. PROTOCOL.md governs block_size_bytes but fixes no range; core/params.ts allows up to
 * 64 MiB, which this node could store and read but never prove.
 */
export const MAX_SERVABLE_BLOCK_BYTES = 3 * Math.floor((MAX_DATA_BYTES - PROOF_FRAME_OVERHEAD_BYTES) / 4)

/** Why this node cannot serve a parameter set, or undefined when it can. */
export function unservableParams(params: Pick<ProtocolParams, 'blockSizeBytes'>): string | undefined {
  if (params.blockSizeBytes <= MAX_SERVABLE_BLOCK_BYTES) return undefined
  return `block_size_bytes ${params.blockSizeBytes} is more than ${MAX_SERVABLE_BLOCK_BYTES}, the largest block a storage proof can carry (one block, base64, in a JSON frame of at most ${MAX_DATA_BYTES} bytes)`
}

/** The snapshot file at start; without one, or with one refused, the start fails unless allowNoSnapshot. */
export async function loadInitialSnapshot(
  config: NodeConfig,
  membership: SnapshotMembership,
  log: Logger,
): Promise<void> {
  try {
    const file = await readSnapshotFile(config.snapshot)
    if (file === undefined) {
      // With --allow-no-snapshot this is the warning's reason: advise the next step, not the flag.
      const next = config.allowNoSnapshot
        ? 'write one with qfs-node aegis sign, then send SIGHUP to load it'
        : 'write one with qfs-node aegis sign, or start with --allow-no-snapshot to wait for it'
      throw new NoSnapshotError(`no epoch snapshot at ${config.snapshot}; ${next}`)
    }
    const snapshot = checked(file, membership, config)
    refuseUnservable(snapshot, config)
    const head = await readSnapshotHead(config.dir)
    if (head !== undefined) {
      refuseAgainstHead(snapshot, head, config)
      if (!equalBytes(canonicalBytes(snapshot.params), canonicalBytes(head.params))) {
        log.warn(
          { from: head.params, to: snapshot.params, epoch: snapshot.epoch },
          'the snapshot changes the protocol parameters this node last ran with',
        )
      }
    }
    await saveInHistory(config, snapshot, log)
    if (head?.snapshot_hash !== snapshot.snapshot_hash) await writeSnapshotHead(config.dir, headOf(snapshot))
    const view = membership.accept(snapshot)
    log.info(
      { epoch: view.epoch, snapshot_hash: view.snapshotHash, nodes: view.eligible.size },
      'snapshot accepted',
    )
  } catch (err) {
    if (!config.allowNoSnapshot) throw err
    log.warn(
      { reason: (err as Error).message },
      'starting without an epoch snapshot: not ready until one is loaded',
    )
    return
  }
  await rememberEarlierEpochs(config, membership, log)
}

/**
 * Gives the membership back the epochs before the one in force that this node adopted earlier
 * (D/snapshots), newest first: the records it holds keep the epoch they were placed in, and their
 * placement is checked against that epoch (a listing's votes, a commit). Each must verify and be the
 * previous of the epoch after it; at the first one missing (a node that restarted epochs later took
 * its new snapshot without the links between) or refused, the older ones stay unknown too, with a
 * warning: records of those epochs then get no vote in the listings this node coordinates, as on a
 * node that never saw them.
 */
async function rememberEarlierEpochs(config: NodeConfig, membership: SnapshotMembership, log: Logger) {
  const current = membership.latest
  if (current === undefined) return
  let expected = current.epoch - 1
  const saved = await listSnapshotHistory(config.dir, current.epoch).catch((err: unknown) => {
    log.warn(
      { reason: (err as Error).message },
      'the saved snapshots cannot be listed: earlier epochs stay unknown',
    )
    return []
  })
  for (const entry of saved) {
    if (entry.epoch !== expected) {
      log.warn(
        { missing_epoch: expected },
        'a saved snapshot is missing: the epochs before it stay unknown to this node',
      )
      return
    }
    try {
      const value = await readSavedSnapshot(entry.path)
      if (value === undefined) throw new SnapshotUnreadableError(`${entry.path} is gone`)
      const epoch = (value as { epoch?: unknown } | null)?.epoch
      if (epoch !== entry.epoch)
        throw new SnapshotRejectedError('MALFORMED', `${entry.path} holds epoch ${epoch}`)
      membership.remember(value)
    } catch (err) {
      log.warn(
        { path: entry.path, reason: (err as Error).message },
        'a saved snapshot was refused: the epochs up to it stay unknown to this node',
      )
      return
    }
    expected--
  }
}

/**
 * Saves an adopted snapshot (or one a peer provided, snapshot-backfill.ts) in D/snapshots. A failure (a file in the directory's place, a full disk)
 * does not stop the adoption: the node runs the snapshot all the same, and only a later restart
 * misses the epoch (a warning says so now).
 */
export async function saveInHistory(config: NodeConfig, snapshot: EpochSnapshot, log: Logger): Promise<void> {
  await writeSnapshotHistory(config.dir, snapshot).catch((err: unknown) =>
    log.warn(
      { epoch: snapshot.epoch, reason: (err as Error).message },
      'the snapshot could not be saved in D/snapshots: a restart will not know this epoch',
    ),
  )
}

/**
 * What a reload did: took a new epoch, found only a snapshot already held, or found no file (the
 * snapshot in force stays; a warning says so).
 */
export type SnapshotReload = 'adopted' | 'unchanged' | 'no-file'

/**
 * Adopts the snapshot file when it holds a new epoch; the parameters must stay those the store runs
 * with, and the eligible set that of the snapshot in force (or, before one, of the saved head).
 */
export async function reloadSnapshot(
  config: NodeConfig,
  membership: SnapshotMembership,
  params: ProtocolParams,
  log: Logger,
): Promise<SnapshotReload> {
  const file = await readSnapshotFile(config.snapshot)
  if (file === undefined) {
    log.warn(
      { path: config.snapshot, epoch: membership.latest?.epoch ?? null },
      'no snapshot file was there to reload: the snapshot in force stays',
    )
    return 'no-file'
  }
  const snapshot = checked(file, membership, config)
  // A snapshot already held (the one in force, or an older epoch) changes nothing.
  if (membership.snapshotAt(snapshot.epoch) !== undefined) return 'unchanged'
  refuseUnservable(snapshot, config)
  if (!sameParams(snapshot, params)) {
    throw new ParamsChangedError(
      `${config.snapshot} changes the protocol parameters the store runs with; restart the node to adopt it`,
    )
  }
  if (membership.latest !== undefined) {
    if (!sameNodeSet(snapshot, membership.current().eligible.nodes)) {
      // Catalogue homes and replica sets follow the eligible list. Until the AEGIS handover moves
      // records and shards to a new list, changing it would hide stored versions from readers and let
      // new homes accept a second content for a version (docs/consistency.md, "Membership changes").
      throw new MembershipChangeUnsupportedError(
        `${config.snapshot} changes the eligible node set; this version of qfs-node supports new epochs with the same nodes only`,
      )
    }
  } else {
    // Started without a snapshot: the saved head still says where this node's chain stands.
    const head = await readSnapshotHead(config.dir)
    if (head !== undefined) refuseAgainstHead(snapshot, head, config)
  }
  const first = membership.latest === undefined
  await saveInHistory(config, snapshot, log)
  await writeSnapshotHead(config.dir, headOf(snapshot))
  const view = membership.accept(snapshot)
  log.info({ epoch: view.epoch, snapshot_hash: view.snapshotHash }, 'snapshot accepted')
  // A node started without a snapshot learns its earlier epochs now.
  if (first) await rememberEarlierEpochs(config, membership, log)
  return 'adopted'
}

/** The file's snapshot, verified and chained onto the one in force (SNAPSHOT_REJECTED, explained). */
function checked(file: unknown, membership: SnapshotMembership, config: NodeConfig): EpochSnapshot {
  try {
    return membership.check(file)
  } catch (err) {
    throw explainRejection(err, config)
  }
}

function refuseUnservable(snapshot: EpochSnapshot, config: NodeConfig): void {
  const why = unservableParams({ blockSizeBytes: snapshot.params.block_size_bytes })
  if (why !== undefined) {
    throw new ParamsUnsupportedError(`${config.snapshot}: this version of qfs-node cannot serve it: ${why}`)
  }
}

function refuseAgainstHead(snapshot: EpochSnapshot, head: SnapshotHead, config: NodeConfig): void {
  const verdict = judgeAgainstHead(snapshot, head)
  if (verdict.ok) return
  if (verdict.reason === 'NODE_SET_CHANGED') {
    throw new MembershipChangeUnsupportedError(
      `${config.snapshot} changes the eligible node set: ${verdict.detail}; this version of qfs-node supports new epochs with the same nodes only`,
    )
  }
  throw new SnapshotRejectedError(verdict.reason, `${config.snapshot}: ${verdict.detail}`)
}

function explainRejection(err: unknown, config: NodeConfig): unknown {
  if (!(err instanceof SnapshotRejectedError)) return err
  const hint =
    err.reason === 'UNTRUSTED_AUTHORITY' && config.trustedAuthorities.length === 0
      ? ' (no trusted_authorities are configured: add --trust KEY)'
      : ''
  // No `cause`: the detail already holds it, and pino's error serializer appends a cause's message again.
  return new SnapshotRejectedError(err.reason, `${config.snapshot}: ${err.detail}${hint}`)
}

function sameParams(snapshot: EpochSnapshot, params: ProtocolParams): boolean {
  return equalBytes(canonicalBytes(snapshot.params), canonicalBytes(paramsToJson(params)))
}

/** Ids compared as a set: a snapshot lists each node once, so equal sizes and inclusion mean equal sets. */
function sameNodeSet(snapshot: EpochSnapshot, current: readonly string[]): boolean {
  const held = new Set(current)
  return snapshot.nodes.length === held.size && snapshot.nodes.every((n) => held.has(n.node_id))
}
