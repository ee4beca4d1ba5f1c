import { shardId } from '../../src/core/ids.js'
import type { EligibleSet } from '../../src/core/placement.js'
import type { Devnet } from '../../src/daemon/devnet.js'
import { type InFlight, type Ledger, type Rng, sleep } from './crash-workload.js'

/** Whom a round strikes, relative to a write in flight at that moment. */
export type VictimRole = 'coordinator' | 'holder' | 'home' | 'any'

/**
 * What a round does to its victim: `kill` SIGKILLs it and restarts it on its directory; `freeze`
 * SIGSTOPs it (its connections stay open, it answers nothing) and SIGCONTs it after a seeded pause
 * shorter or longer than the daemons' request deadline; `double` SIGKILLs it and, while it is down,
 * a second node of the same write, so 2 of 5 (possibly a majority of the write's homes) are down at once.
 */
export type FaultKind = 'kill' | 'freeze' | 'double'
export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'freeze', 'double']

/** The kinds named in QFS_CRASH_FAULTS (comma-separated; rounds take them in turn), default `kill`. */
export function faultKinds(spec: string | undefined): FaultKind[] {
  const kinds = (spec ?? 'kill').split(',').map((k) => k.trim())
  for (const k of kinds) {
    if (!(FAULT_KINDS as readonly string[]).includes(k))
      throw new Error(`QFS_CRASH_FAULTS: unknown fault ${k} (one of ${FAULT_KINDS.join(', ')})`)
  }
  return kinds as FaultKind[]
}

export interface Kill {
  round: number
  kind: FaultKind
  role: VictimRole
  node: string
  /** The write in flight the victim was chosen for, if any. */
  write?: { oid: string; version: number; size: number; via: string }
  killedAtMs: number
  /** How long the victim was down (killed) or frozen. */
  downMs: number
  restartMs: number
  /** How the victim ended: SIGKILL, or null for a frozen one that never exited. */
  signal: string | null
  /** `double`: the second node killed while the first was down. */
  second?: { node: string; afterMs: number; downMs: number; signal: string | null }
}

/** A write in flight (not empty: an empty one is over too soon) and its node in `role`, if any. */
function aimAt(
  eligible: EligibleSet,
  flying: InFlight[],
  role: VictimRole,
  rng: Rng,
): { write: InFlight; node: string } | undefined {
  const candidates = flying.flatMap((write) => {
    if (write.size === 0) return []
    const { homes, holders } = placement(eligible, write.oid, write.version)
    const nodes =
      role === 'coordinator'
        ? [write.via]
        : role === 'holder'
          ? holders.filter((n) => n !== write.via && !homes.includes(n))
          : homes.filter((n) => n !== write.via)
    return nodes.map((node) => ({ write, node }))
  })
  return candidates.length > 0 ? rng.pick(candidates) : undefined
}

/** The nodes of a version's shards and its catalogue homes in the devnet's (fixed) epoch. */
export function placement(eligible: EligibleSet, oid: string, version: number) {
  const homes = eligible.catalogueHomes(oid, 3)
  const holders = [
    ...new Set([0, 1, 2, 3].flatMap((k) => eligible.place(shardId(oid, version, k), 3).selected)),
  ]
  return { homes, holders }
}

export interface FaultTiming {
  /** The daemons' `limits.request_timeout_ms`: a freeze lasts shorter or longer than it. */
  requestTimeoutMs: number
}

/**
 * `rounds` times: wait a seeded moment, strike one daemon chosen for a write then in flight (its
 * coordinator, a holder that is neither coordinator nor home, or a home that is not the coordinator;
 * roles in turn, so three rounds strike each role once) with the round's fault kind (`kinds` in
 * turn), and bring it back after a seeded pause. Each round ends with every node up and answering,
 * so at most one node (two in a `double` round) is down or frozen at any time.
 */
export async function crashRounds(
  devnet: Devnet,
  eligible: EligibleSet,
  ledger: Ledger,
  rng: Rng,
  rounds: number,
  kinds: readonly FaultKind[] = ['kill'],
  timing: FaultTiming = { requestTimeoutMs: 10_000 },
): Promise<Kill[]> {
  const ids = devnet.plan.nodes.map((n) => n.nodeId)
  const roles: VictimRole[] = ['coordinator', 'holder', 'home']
  const kills: Kill[] = []
  for (let round = 0; round < rounds; round++) {
    await sleep(rng.int(300, 1500))
    const kind = kinds[round % kinds.length]!
    let role: VictimRole = roles[round % roles.length]!
    // The first write in flight after the seeded moment that has a node in that role (writers
    // pause between objects, so there may be none for a moment).
    let aim: { write: InFlight; node: string } | undefined
    for (const until = Date.now() + 2_000; aim === undefined && Date.now() < until; await sleep(10)) {
      aim = aimAt(eligible, [...ledger.inFlight.values()], role, rng)
    }
    const write = aim?.write
    let node = aim?.node
    if (node === undefined) {
      role = 'any'
      node = rng.pick(ids)
    }
    const index = ids.indexOf(node) + 1
    const killedAtMs = Date.now() - ledger.t0
    const base = {
      round,
      kind,
      role,
      node,
      write:
        role === 'any' || write === undefined
          ? undefined
          : { oid: write.oid, version: write.version, size: write.size, via: write.via },
      killedAtMs,
    }
    if (kind === 'freeze') {
      kills.push({ ...base, ...(await freeze(devnet, index, rng, timing.requestTimeoutMs)) })
      continue
    }
    const downMs = rng.int(200, 2000)
    if (kind === 'double') {
      // The second victim: another home or holder of the same write when there is one (so its
      // homes or a shard's replicas may lose a majority), else any other node.
      const near =
        write === undefined ? [] : Object.values(placement(eligible, write.oid, write.version)).flat()
      const others = near.filter((n) => n !== node)
      const second = others.length > 0 ? rng.pick(others) : rng.pick(ids.filter((n) => n !== node))
      const afterMs = rng.int(0, downMs - 100)
      const secondDownMs = rng.int(200, 2000)
      const t = Date.now()
      // One restart at a time: Devnet.restart lists every node once its own is up, and a node
      // still starting has nothing to list yet.
      let restarting: Promise<unknown> = Promise.resolve()
      const restart = (i: number) => {
        const next = restarting.then(() => devnet.restart(i))
        restarting = next.catch(() => {})
        return next
      }
      const first = killAndRestart(devnet, index, downMs, restart)
      await sleep(afterMs)
      const other = killAndRestart(devnet, ids.indexOf(second) + 1, secondDownMs, restart)
      const [a, b] = await Promise.all([first, other])
      kills.push({
        ...base,
        downMs,
        restartMs: Date.now() - t - Math.max(downMs, afterMs + secondDownMs),
        signal: a.signal,
        second: { node: second, afterMs, downMs: secondDownMs, signal: b.signal },
      })
      continue
    }
    const t = Date.now()
    const exit = await killAndRestart(devnet, index, downMs)
    kills.push({ ...base, downMs, restartMs: Date.now() - t - downMs, signal: exit.signal })
  }
  return kills
}

/** SIGKILLs node `index`, waits `downMs` and restarts it on its directory; resolves with how it exited. */
async function killAndRestart(
  devnet: Devnet,
  index: number,
  downMs: number,
  restart: (index: number) => Promise<unknown> = (i) => devnet.restart(i),
) {
  const exit = await devnet.kill(index, 'SIGKILL')
  await sleep(downMs)
  await restart(index)
  return exit
}

/**
 * SIGSTOPs node `index` for a seeded pause, half the time shorter than the request deadline (a
 * peer waits it out) and half the time longer, up to four of them, past the idle deadline of three
 * (peers give up on it, and its own timers all fire at once when it resumes), then SIGCONTs it.
 */
async function freeze(devnet: Devnet, index: number, rng: Rng, requestTimeoutMs: number) {
  const pid = devnet.nodes[index - 1]!.pid
  const downMs = rng.chance(0.5)
    ? rng.int(200, Math.max(200, requestTimeoutMs - 300))
    : rng.int(requestTimeoutMs + 300, 4 * requestTimeoutMs)
  process.kill(pid, 'SIGSTOP')
  await sleep(downMs)
  const t = Date.now()
  process.kill(pid, 'SIGCONT')
  return { downMs, restartMs: Date.now() - t, signal: devnet.running(index) ? null : 'exited' }
}
