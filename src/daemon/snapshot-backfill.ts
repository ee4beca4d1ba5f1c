/**
 * Fetches from peers the epoch snapshots this node lacks before the earliest one it holds (a node
 * stopped across epoch changes, or one whose D/snapshots is gone): a listing counts a home's vote for
 * a record only if the record is placed as its epoch says, so without them the listings this node
 * coordinates would leave out every version written in those epochs.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { underDeadline } from '../engine/deadline.js'
import { SnapshotRejectedError } from '../membership/errors.js'
import { type EpochSnapshot, GENESIS_PREV_HASH } from '../membership/snapshot.js'
import type { SnapshotMembership } from '../membership/snapshot-membership.js'
import { RemoteError } from '../net/errors.js'
import type { Logger } from './logger.js'

export interface SnapshotBackfillComponents {
  /** This node: never asked. */
  nodeId: string
  membership: SnapshotMembership
  /** A peer's snapshot of `epoch` as it sent it (unverified); undefined when it holds none (NOT_FOUND). */
  fetch: (peer: string, epoch: number, options: { signal: AbortSignal }) => Promise<unknown>
  /**
   * This node's own saved snapshot of `epoch` (D/snapshots), unverified, or undefined when it has
   * none: a restart loads only the chain down to its first gap, and files below it are still good.
   */
  saved?: (epoch: number) => Promise<unknown>
  /** Saves a snapshot taken from a peer in D/snapshots, so a restart has it; warns, never throws. */
  save: (snapshot: EpochSnapshot) => Promise<void>
  log: Logger
}

export interface SnapshotBackfillInit {
  /** Bound of one request, opening the channel included. */
  requestTimeoutMs: number
  /**
   * Waits before asking again the peers that did not answer at all, one per round: peers restarted
   * with this node (a whole network brought up on a new epoch) may not listen yet. A peer that
   * answers, even NOT_FOUND, is not asked again for that epoch.
   */
  retryDelaysMs?: readonly number[]
}

/** What a run did: the epochs it added, newest first, and the epoch it stopped at, if any. */
export interface BackfillResult {
  added: number[]
  /** The epoch no peer provided (it and every earlier one stay unknown); undefined when none is missing. */
  missing?: number
}

export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = Object.freeze([1_000, 2_000, 4_000, 8_000])

/**
 * One backfill at a time: `start` while one runs returns that run, which covers the new request too
 * (a new epoch in force leaves the gap below the held chain as it was). Epochs are asked newest
 * first, one at a time, from the eligible peers of the epoch in force in node id order; each answer
 * must pass `SnapshotMembership.remember` (structure, hash, a trusted signature, and being the
 * previous that the next held epoch names), so a hostile peer can only fail to help.
 */
export class SnapshotBackfill {
  private readonly c: SnapshotBackfillComponents
  private readonly requestTimeoutMs: number
  private readonly retryDelaysMs: readonly number[]
  private readonly stopped = new AbortController()
  private running: Promise<BackfillResult> | undefined

  constructor(components: SnapshotBackfillComponents, init: SnapshotBackfillInit) {
    this.c = components
    this.requestTimeoutMs = init.requestTimeoutMs
    this.retryDelaysMs = init.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS
  }

  /** Runs a backfill (or joins the one running); never rejects, and does nothing once stopped. */
  start(): Promise<BackfillResult> {
    this.running ??= this.run()
      .catch((err: unknown): BackfillResult => {
        this.c.log.warn({ reason: (err as Error).message }, 'the snapshot backfill failed')
        return { added: [] }
      })
      .finally(() => {
        this.running = undefined
      })
    return this.running
  }

  /** Ends a run under way (its request is given up) and waits for it; no run starts after. */
  async stop(): Promise<void> {
    this.stopped.abort()
    await this.running
  }

  private async run(): Promise<BackfillResult> {
    const { membership, log } = this.c
    const signal = this.stopped.signal
    let epoch = firstMissingEpoch(membership)
    if (epoch === undefined || signal.aborted) return { added: [] }
    // Peers refuse a node their snapshot does not list (NOT_ELIGIBLE): nothing to ask them.
    if (!membership.isEligible(this.c.nodeId)) return { added: [], missing: epoch }
    const peers = membership.current().eligible.nodes.filter((id) => id !== this.c.nodeId)
    const added: number[] = []
    while (epoch !== undefined) {
      if (await this.fromDisk(epoch)) {
        epoch = firstMissingEpoch(membership)
        continue
      }
      const snapshot = await this.fromPeers(epoch, peers, signal)
      if (signal.aborted) {
        log.info({ epochs: added }, 'the snapshot backfill stopped with the node')
        return { added, missing: epoch }
      }
      if (snapshot === undefined) {
        log.warn(
          { missing_epoch: epoch, peers: peers.length },
          'no peer provided an earlier snapshot: the epochs up to it stay unknown to this node',
        )
        break
      }
      await this.c.save(snapshot)
      added.push(epoch)
      epoch = firstMissingEpoch(membership)
    }
    log.info({ epochs: added }, 'the snapshot backfill finished')
    return { added, missing: epoch }
  }

  /**
   * The snapshot of `epoch` from the first peer whose answer the membership takes, or undefined once
   * every peer has answered without it (NOT_FOUND, a refusal, a snapshot refused) or the retries are
   * spent. Peers that did not answer at all (not listening yet, timed out) are asked again after each
   * delay, and only they: one quick "not held" says nothing of the peers still starting.
   */
  private async fromPeers(
    epoch: number,
    peers: readonly string[],
    signal: AbortSignal,
  ): Promise<EpochSnapshot | undefined> {
    let asking = peers
    for (let round = 0; ; round++) {
      const silent: string[] = []
      for (const peer of asking) {
        if (signal.aborted) return undefined
        let value: unknown
        try {
          value = await underDeadline(signal, this.requestTimeoutMs, (bounded) =>
            this.c.fetch(peer, epoch, { signal: bounded }),
          )
        } catch (err) {
          if (err instanceof RemoteError) {
            // The peer's own verdict (an older release's INVALID_INPUT, NOT_ELIGIBLE, FRAME_TOO_LARGE):
            // it answered, and asking again would get the same.
            this.c.log.warn(
              { peer, epoch, code: err.code, reason: err.message },
              'a peer refused a snapshot request',
            )
            continue
          }
          this.c.log.debug(
            { peer, epoch, reason: (err as Error).message },
            'a peer did not answer a snapshot request',
          )
          silent.push(peer)
          continue
        }
        if (value === undefined) continue
        try {
          return this.take(value, epoch)
        } catch (err) {
          this.c.log.warn(
            { peer, epoch, reason: (err as Error).message },
            'a peer served a snapshot that was refused',
          )
        }
      }
      if (silent.length === 0 || round >= this.retryDelaysMs.length) return undefined
      asking = silent
      try {
        await sleep(this.retryDelaysMs[round], undefined, { signal })
      } catch {
        return undefined
      }
    }
  }

  /** Whether this node's own saved snapshot of `epoch` was taken (verified and linked like a peer's). */
  private async fromDisk(epoch: number): Promise<boolean> {
    try {
      const value = await this.c.saved?.(epoch)
      if (value === undefined) return false
      this.take(value, epoch)
      return true
    } catch (err) {
      this.c.log.warn(
        { epoch, reason: (err as Error).message },
        'a saved snapshot was refused: asking the peers for its epoch',
      )
      return false
    }
  }

  /** Verifies and adds a peer's answer for `epoch` (SNAPSHOT_REJECTED when it is not that epoch's). */
  private take(value: unknown, epoch: number): EpochSnapshot {
    const sent = (value as { epoch?: unknown } | null)?.epoch
    // remember() takes a snapshot already held as a no-op: another epoch's must not count as this one.
    if (sent !== epoch)
      throw new SnapshotRejectedError('MALFORMED', `epoch ${String(sent)} sent, not ${epoch}`)
    this.c.membership.remember(value)
    return this.c.membership.snapshotAt(epoch)!
  }
}

/**
 * The newest epoch below the chain the membership holds unbroken down from the epoch in force, or
 * undefined when that chain is whole: it reaches epoch 0, or a snapshot that begins a chain
 * (`prev_snapshot_hash` the genesis value: no earlier epoch links to it).
 */
export function firstMissingEpoch(membership: SnapshotMembership): number | undefined {
  let lowest = membership.latest
  if (lowest === undefined) return undefined
  for (;;) {
    const previous = membership.snapshotAt(lowest.epoch - 1)
    if (previous === undefined) break
    lowest = previous
  }
  if (lowest.epoch === 0 || lowest.prev_snapshot_hash === GENESIS_PREV_HASH) return undefined
  return lowest.epoch - 1
}
