import { performance } from 'node:perf_hooks'
import type { PeerHealth } from '../engine/peer-health.js'

/**
 * How long a probe waits for a peer's answer at most. A ping is answered by the peer's libp2p stack
 * alone, in well under a millisecond on a live node; one that cannot answer in 2 s is frozen or
 * drowning, and requests to it would wait their whole deadline.
 */
export const PROBE_TIMEOUT_MS = 2_000

export interface PeerProberInit {
  /** The peers to watch now (the eligible set without this node, connected ones only). */
  peers: () => readonly string[]
  /** One libp2p ping of `peer`; resolves with the round trip in ms, rejects if it fails or `signal` aborts. */
  ping: (peer: string, signal: AbortSignal) => Promise<number>
  health: PeerHealth
  intervalMs: number
  timeoutMs?: number
  /** Each answered probe, for metrics (an observation, never protocol data). */
  onAnswer?: (peer: string, rttMs: number) => void
  /** A monotonic clock in ms (default performance.now): tells a late deadline from a silent peer. */
  now?: () => number
}

export interface PeerProber {
  /** Probes every watched peer once now; resolves when each probe has answered or failed. */
  probeNow(): Promise<void>
  /** No probe starts after this; the probes in flight are aborted. */
  stop(): Promise<void>
}

/**
 * Finds a frozen peer before a request has to. Without it the first request that meets a frozen
 * peer waits its whole deadline (10 s), and so does every other request already in flight to it;
 * a peer that fails a probe is suspect at once, so reads try it last and writes stop waiting for it
 * once they can do without it (engine/context.ts). Only a probe the peer left unanswered to its
 * deadline is reported (TIMEOUT): any other failure may be ours (a stream limit, our own stop), and
 * a deadline that fired late means this node's own event loop stalled, so the answer may be waiting
 * unread; the deadline also aborts only after the I/O already received is read. A probe that
 * succeeds reports nothing, because a ping is answered by libp2p alone and says nothing of the
 * peer's store: only a real answer ends a suspicion. A peer whose probe is still out is not probed
 * again.
 */
export function startPeerProber(init: PeerProberInit): PeerProber {
  const timeoutMs = init.timeoutMs ?? PROBE_TIMEOUT_MS
  const now = init.now ?? (() => performance.now())
  const inFlight = new Map<string, { controller: AbortController; done: Promise<void> }>()
  let stopped = false

  const probe = (peer: string): Promise<void> => {
    const running = inFlight.get(peer)
    if (running !== undefined) return running.done
    const controller = new AbortController()
    const started = now()
    let silent = false
    let immediate: ReturnType<typeof setImmediate> | undefined
    const timer = setTimeout(() => {
      // Late by half the deadline or more: this node was stalled, not (necessarily) the peer.
      silent = now() - started < timeoutMs * 1.5
      // After this turn's I/O: an answer that arrived while the timer was due still counts.
      immediate = setImmediate(() => controller.abort())
    }, timeoutMs)
    const done = init
      .ping(peer, controller.signal)
      .then(
        (rtt) => init.onAnswer?.(peer, rtt),
        () => {
          if (!stopped && silent && controller.signal.aborted) init.health.failed(peer, 'TIMEOUT')
        },
      )
      .finally(() => {
        clearTimeout(timer)
        if (immediate !== undefined) clearImmediate(immediate)
        inFlight.delete(peer)
      })
    inFlight.set(peer, { controller, done })
    return done
  }
  const probeNow = async (): Promise<void> => {
    if (stopped) return
    await Promise.all(init.peers().map(probe))
  }
  const interval = setInterval(() => void probeNow(), init.intervalMs)
  interval.unref()
  return {
    probeNow,
    async stop() {
      stopped = true
      clearInterval(interval)
      const pending = [...inFlight.values()]
      for (const p of pending) p.controller.abort()
      await Promise.all(pending.map((p) => p.done))
    },
  }
}
