import { shardId } from '../../src/core/ids.js'
import type { EligibleSet } from '../../src/core/placement.js'
import type { Devnet } from '../../src/daemon/devnet.js'
import { type Ledger, type Rng, sleep } from './crash-workload.js'

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
    const flying = [...ledger.inFlight.values()].filter((w) => w.size > 0)
    const write = flying.length > 0 ? rng.pick(flying) : undefined
    let node: string | undefined
    if (write !== undefined) {
      const { homes, holders } = placement(eligible, write.oid, write.version)
      const candidates =
        role === 'coordinator'
          ? [write.via]
          : role === 'holder'
            ? holders.filter((n) => n !== write.via && !homes.includes(n))
            : homes.filter((n) => n !== write.via)
      if (candidates.length > 0) node = rng.pick(candidates)
    }
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
