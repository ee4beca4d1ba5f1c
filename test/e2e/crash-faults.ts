import { shardId } from '../../src/core/ids.js'
import type { EligibleSet } from '../../src/core/placement.js'
import type { Devnet } from '../../src/daemon/devnet.js'
import { type InFlight, type Ledger, type Rng, sleep } from './crash-workload.js'

/** Whom a round kills, relative to a write in flight at that moment. */
export type VictimRole = 'coordinator' | 'holder' | 'home' | 'any'

export interface Kill {
  round: number
  role: VictimRole
  node: string
  /** The write in flight the victim was chosen for, if any. */
  write?: { oid: string; version: number; size: number; via: string }
  killedAtMs: number
  downMs: number
  restartMs: number
  signal: string | null
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

/**
 * `rounds` times: wait a seeded moment, SIGKILL one daemon chosen for a write then in flight (its
 * coordinator, a holder that is neither coordinator nor home, or a home that is not the coordinator;
 * roles in turn, so three rounds kill each role once), keep it down a seeded pause and restart it on its directory. One node at most is
 * down at any time, since each round restarts its victim before the next one begins.
 */
export async function crashRounds(
  devnet: Devnet,
  eligible: EligibleSet,
  ledger: Ledger,
  rng: Rng,
  rounds: number,
): Promise<Kill[]> {
  const ids = devnet.plan.nodes.map((n) => n.nodeId)
  const roles: VictimRole[] = ['coordinator', 'holder', 'home']
  const kills: Kill[] = []
  for (let round = 0; round < rounds; round++) {
    await sleep(rng.int(300, 1500))
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
    const exit = await devnet.kill(index, 'SIGKILL')
    const downMs = rng.int(200, 2000)
    await sleep(downMs)
    const t = Date.now()
    await devnet.restart(index)
    kills.push({
      round,
      role,
      node,
      write:
        role === 'any' || write === undefined
          ? undefined
          : { oid: write.oid, version: write.version, size: write.size, via: write.via },
      killedAtMs,
      downMs,
      restartMs: Date.now() - t,
      signal: exit.signal,
    })
  }
  return kills
}
