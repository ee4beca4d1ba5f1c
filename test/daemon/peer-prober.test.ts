import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { startPeerProber } from '../../src/daemon/peer-prober.js'
import { RecentFailures } from '../../src/engine/peer-health.js'

/** A peer's ping: answers after `ms`, never (frozen), or fails at once (gone). */
type Behaviour = { answerAfter: number } | 'frozen' | 'gone'

function pinger(behaviour: Record<string, Behaviour>, calls: string[]) {
  return (peer: string, signal: AbortSignal) =>
    new Promise<number>((resolve, reject) => {
      calls.push(peer)
      const b = behaviour[peer]!
      if (b === 'gone') return reject(new Error('connection refused'))
      signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true })
      if (b !== 'frozen') setTimeout(() => resolve(b.answerAfter), b.answerAfter)
    })
}

describe('PeerProber', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('makes a frozen peer suspect before any request meets it; a refusal may be ours; an answer clears nothing', async () => {
    let now = 0
    const seen: string[] = []
    const health = new RecentFailures({ now: () => now, onFailure: (n, c) => seen.push(`${n}:${c}`) })
    const calls: string[] = []
    const behaviour: Record<string, Behaviour> = { a: { answerAfter: 3 }, f: 'frozen', g: 'gone' }
    // A suspicion a real request set: a probe answered by libp2p alone must not end it.
    health.failed('a', 'TIMEOUT')
    seen.length = 0
    const prober = startPeerProber({
      peers: () => ['a', 'f', 'g'],
      ping: pinger(behaviour, calls),
      health,
      intervalMs: 5_000,
      timeoutMs: 2_000,
      now: () => Date.now(),
    })
    try {
      await vi.advanceTimersByTimeAsync(5_000)
      // g failed at once: a stream limit or our own stop fail the same way, so it is no evidence.
      expect(seen).toEqual([])
      // The deadline aborts after the turn's I/O (setImmediate), one fake tick later.
      await vi.advanceTimersByTimeAsync(2_001)
      expect(seen).toEqual(['f:TIMEOUT'])
      expect(health.suspects()).toEqual(['a', 'f'])
      expect(calls).toEqual(['a', 'f', 'g'])
      // Every interval probes again, and a frozen peer stays suspect for as long as it stays frozen.
      now = 29_000
      await vi.advanceTimersByTimeAsync(5_000)
      expect(calls.filter((c) => c === 'f')).toHaveLength(2)
      now = 45_000
      // a answered every probe, yet only its own suspicion's end (30 s) let it go.
      expect(health.suspects()).toEqual(['f'])
    } finally {
      await prober.stop()
    }
    expect(vi.getTimerCount()).toBe(0)
  })

  it('does not probe a peer again while its probe is out, and reports nothing for its own stop', async () => {
    const seen: string[] = []
    const health = new RecentFailures({ onFailure: (n, c) => seen.push(`${n}:${c}`) })
    const calls: string[] = []
    const prober = startPeerProber({
      peers: () => ['f'],
      ping: pinger({ f: 'frozen' }, calls),
      health,
      intervalMs: 100,
      timeoutMs: 1_000,
    })
    await vi.advanceTimersByTimeAsync(950)
    expect(calls).toEqual(['f'])
    await prober.stop()
    expect(seen).toEqual([])
    expect(vi.getTimerCount()).toBe(0)
    // A stopped prober probes nobody, on request or otherwise.
    await prober.probeNow()
    expect(calls).toEqual(['f'])
    expect(vi.getTimerCount()).toBe(0)
  })

  it('reports nothing for a stop that lands between the deadline and its abort', async () => {
    const seen: string[] = []
    const health = new RecentFailures({ onFailure: (n, c) => seen.push(`${n}:${c}`) })
    const prober = startPeerProber({
      peers: () => ['f'],
      ping: pinger({ f: 'frozen' }, []),
      health,
      intervalMs: 60_000,
      timeoutMs: 1_000,
    })
    const probe = prober.probeNow()
    // The deadline fires; its abort waits for the turn's I/O (setImmediate), and the stop comes first.
    await vi.advanceTimersToNextTimerAsync()
    await prober.stop()
    await probe
    expect(seen).toEqual([])
  })

  it('probes the peers watched at each tick', async () => {
    let peers = ['a']
    const calls: string[] = []
    const prober = startPeerProber({
      peers: () => peers,
      ping: pinger({ a: { answerAfter: 1 }, b: { answerAfter: 1 } }, calls),
      health: new RecentFailures(),
      intervalMs: 100,
      onAnswer: (peer, rtt) => calls.push(`${peer}=${rtt}`),
    })
    await vi.advanceTimersByTimeAsync(100)
    peers = ['b']
    await vi.advanceTimersByTimeAsync(101)
    await prober.stop()
    expect(calls).toEqual(['a', 'a=1', 'b', 'b=1'])
  })

  it('does not blame a peer for its own late deadline, nor for an answer read in the turn the deadline fell due', async () => {
    const seen: string[] = []
    const health = new RecentFailures({ onFailure: (n, c) => seen.push(`${n}:${c}`) })
    let skew = 0
    const answers: string[] = []
    const prober = startPeerProber({
      peers: () => ['late', 'frozen'],
      // 'late' answers exactly when the deadline falls due; 'frozen' never does.
      ping: (peer, signal) =>
        new Promise<number>((resolve, reject) => {
          signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true })
          if (peer === 'late') setTimeout(() => resolve(1_000), 1_000)
        }),
      health,
      intervalMs: 10_000,
      timeoutMs: 1_000,
      now: () => Date.now() + skew,
      onAnswer: (peer) => answers.push(peer),
    })
    try {
      // First round: the deadline is on time; the frozen peer is blamed, the one answering is not.
      const first = prober.probeNow()
      await vi.advanceTimersByTimeAsync(1_001)
      await first
      expect(answers).toEqual(['late'])
      expect(seen).toEqual(['frozen:TIMEOUT'])
      // Second round: this node stalls past the deadline; nobody is blamed for it.
      seen.length = 0
      const second = prober.probeNow()
      skew = 5_000
      await vi.advanceTimersByTimeAsync(1_001)
      await second
      expect(seen).toEqual([])
      // Late by 60% of the deadline is past the half it allows: still this node's stall.
      const third = prober.probeNow()
      skew = 5_600
      await vi.advanceTimersByTimeAsync(1_001)
      await third
      expect(seen).toEqual([])
    } finally {
      await prober.stop()
    }
  })
})
