import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { DEFAULT_RETRY_DELAYS_MS, SnapshotBackfill } from '../../src/daemon/snapshot-backfill.js'
import { generateAuditKey } from '../../src/log/keys.js'
import { createSnapshot, type EpochSnapshot, signSnapshot } from '../../src/membership/snapshot.js'
import { SnapshotMembership } from '../../src/membership/snapshot-membership.js'
import type { NodeEntry } from '../../src/membership/types.js'
import { RemoteError } from '../../src/net/errors.js'
import { testAuditKey } from '../engine/harness.js'
import { testPeerKey } from '../net/harness.js'
import { authority, capturingLogger, signed } from './snapshot-fixture.js'

// docs/operations.md "Snapshots": a node fetches the epochs it lacks from its peers, each verified
// and linked to the chain it holds, so a hostile or confused peer can only fail to help.

/** What a fake peer does when asked for an epoch: a value sent, undefined (NOT_FOUND), or a throw. */
type Peer = (epoch: number, signal: AbortSignal) => Promise<unknown>

let self = ''
/** The other nodes in node id order (the order they are asked in). */
let peers: string[] = []
let entries: NodeEntry[] = []
let chain: EpochSnapshot[] = []

beforeAll(async () => {
  const ids: string[] = []
  for (let i = 0; i < 4; i++) ids.push(peerIdFromPrivateKey(await testPeerKey(80 + i)).toString())
  entries = ids.map((id) => ({
    node_id: id,
    multiaddrs: [],
    mldsa_public_key: toHex(testAuditKey(id).publicKey),
  }))
  const sorted = [...ids].sort()
  self = sorted[2]!
  peers = sorted.filter((id) => id !== self)
  chain = []
  for (let epoch = 0; epoch <= 3; epoch++) chain.push(signed(epoch, entries, { previous: chain[epoch - 1] }))
})

/** A membership holding `held` (accepted in order: the last is in force, the others remembered). */
function holding(...held: EpochSnapshot[]): SnapshotMembership {
  const membership = new SnapshotMembership({ trustedKeys: [authority.publicKey] })
  const [head, ...before] = [...held].reverse()
  membership.accept(head!)
  for (const s of before) membership.remember(s)
  return membership
}

const serves =
  (...epochs: number[]): Peer =>
  async (epoch) =>
    epochs.includes(epoch) ? structuredClone(chain[epoch]) : undefined
const fails: Peer = async () => {
  throw Object.assign(new Error('cannot open replica/rpc'), { code: 'NODE_UNAVAILABLE' })
}

/** A backfill over fake peers (`byPeer` in node id order); `asked` lists `peer-index:epoch` in order. */
function backfillOf(
  membership: SnapshotMembership,
  byPeer: Peer[],
  init: {
    requestTimeoutMs?: number
    retryDelaysMs?: number[]
    save?: (s: EpochSnapshot) => Promise<void>
    saved?: (epoch: number) => Promise<unknown>
  } = {},
) {
  const { logger, lines } = capturingLogger()
  const asked: string[] = []
  const saved: number[] = []
  const backfill = new SnapshotBackfill(
    {
      nodeId: self,
      membership,
      fetch: async (peer, epoch, { signal }) => {
        const i = peers.indexOf(peer)
        asked.push(`${i}:${epoch}`)
        return byPeer[i]!(epoch, signal)
      },
      save: init.save ?? (async (s) => void saved.push(s.epoch)),
      saved: init.saved,
      log: logger,
    },
    { requestTimeoutMs: init.requestTimeoutMs ?? 1_000, retryDelaysMs: init.retryDelaysMs ?? [] },
  )
  return { backfill, asked, saved, lines }
}

const msgs = (lines: Array<Record<string, unknown>>, level: string) =>
  lines.filter((l) => l.level === level).map((l) => l.msg)

describe('snapshot backfill', () => {
  it('fills the gap newest first, each epoch from the first peer in node id order that has it, and saves it', async () => {
    const membership = holding(chain[3]!)
    const { backfill, asked, saved, lines } = backfillOf(membership, [
      serves(),
      serves(2, 1, 0),
      serves(2, 1, 0),
    ])
    expect(await backfill.start()).toEqual({ added: [2, 1, 0], missing: undefined })
    expect(asked).toEqual(['0:2', '1:2', '0:1', '1:1', '0:0', '1:0'])
    expect(saved).toEqual([2, 1, 0])
    for (const epoch of [0, 1, 2])
      expect(membership.at(epoch)?.snapshotHash).toBe(chain[epoch]!.snapshot_hash)
    // Still only looked up: the epoch in force stays.
    expect(membership.current().epoch).toBe(3)
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 'info', msg: 'the snapshot backfill finished', epochs: [2, 1, 0] }),
    )
    expect(msgs(lines, 'warn')).toEqual([])
  })

  it("skips a peer's forged, altered, other-chain or other-epoch snapshot with a warning, and takes the next peer's", async () => {
    const stranger = generateAuditKey(new Uint8Array(32).fill(3))
    const forged = (epoch: number) =>
      signSnapshot(
        createSnapshot({
          epoch,
          startTick: epoch * 100,
          nodes: entries,
          previous: chain[epoch - 1],
          authorityPublicKey: stranger.publicKey,
        }),
        stranger,
      )
    // Trusted, but of another chain: epoch 2 does not name it as its previous.
    const fork1 = signed(1, entries, { previous: chain[0], startTick: 150 })
    const hostile: Peer = async (epoch) => (epoch === 2 ? forged(2) : epoch === 1 ? fork1 : chain[3])
    const altered: Peer = async (epoch) => ({ ...chain[epoch]!, start_tick: chain[epoch]!.start_tick + 1 })
    const membership = holding(chain[3]!)
    const { backfill, asked, lines } = backfillOf(membership, [hostile, altered, serves(2, 1, 0)])
    expect(await backfill.start()).toEqual({ added: [2, 1, 0], missing: undefined })
    expect(asked).toEqual(['0:2', '1:2', '2:2', '0:1', '1:1', '2:1', '0:0', '1:0', '2:0'])
    for (const epoch of [0, 1, 2])
      expect(membership.at(epoch)?.snapshotHash).toBe(chain[epoch]!.snapshot_hash)
    const refused = lines.filter((l) => l.msg === 'a peer served a snapshot that was refused')
    expect(refused.map((l) => [l.level, l.peer, l.epoch])).toEqual([
      ['warn', peers[0], 2],
      ['warn', peers[1], 2],
      ['warn', peers[0], 1],
      ['warn', peers[1], 1],
      ['warn', peers[0], 0],
      ['warn', peers[1], 0],
    ])
    expect(refused.map((l) => String(l.reason).split(':')[0])).toEqual([
      'UNTRUSTED_AUTHORITY',
      'HASH_MISMATCH',
      'BROKEN_CHAIN',
      'HASH_MISMATCH',
      'MALFORMED',
      'HASH_MISMATCH',
    ])
  })

  it('stops at the first epoch no peer has: it and the epochs before stay unknown, with a warning', async () => {
    const membership = holding(chain[3]!)
    const { backfill, asked, saved, lines } = backfillOf(membership, [serves(2, 0), serves(0), serves(2)])
    expect(await backfill.start()).toEqual({ added: [2], missing: 1 })
    expect(asked).toEqual(['0:2', '0:1', '1:1', '2:1'])
    expect(saved).toEqual([2])
    expect(membership.at(1)).toBeUndefined()
    expect(membership.at(0)).toBeUndefined()
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: 'no peer provided an earlier snapshot: the epochs up to it stay unknown to this node',
        missing_epoch: 1,
      }),
    )
    expect(lines).toContainEqual(expect.objectContaining({ level: 'info', epochs: [2] }))
  })

  it('asks nothing when no epoch is missing: the chain reaches epoch 0, or begins later', async () => {
    const whole = backfillOf(holding(...chain), [serves(0, 1, 2, 3), serves(), serves()])
    expect(await whole.backfill.start()).toEqual({ added: [] })
    // A chain whose first snapshot is epoch 1 (the genesis link): no epoch 0 links to it.
    const first1 = signed(1, entries)
    const begun = backfillOf(holding(first1), [serves(0), serves(), serves()])
    expect(await begun.backfill.start()).toEqual({ added: [] })
    // Only the gap below what is held is asked for.
    const gap = backfillOf(holding(chain[2]!, chain[3]!), [serves(1, 0), serves(), serves()])
    expect(await gap.backfill.start()).toEqual({ added: [1, 0], missing: undefined })
    // An epoch 0 ends the chain whatever its prev_snapshot_hash says: there is no epoch -1 to ask for.
    const anchored0 = signed(0, entries, { previous: chain[1] })
    const zero = backfillOf(holding(anchored0), [serves(0), serves(), serves()])
    expect(await zero.backfill.start()).toEqual({ added: [] })
    expect([...whole.asked, ...begun.asked, ...zero.asked, ...whole.lines, ...begun.lines]).toEqual([])
    expect(gap.asked).toEqual(['0:1', '0:0'])
  })

  it('takes the epochs below a gap from its own D/snapshots before asking the peers, and a bad file from the peers', async () => {
    // A restart loads its saved chain down to the first gap (epoch 2 here); epochs 1 and 0 are still on disk.
    const membership = holding(chain[3]!)
    const onDisk = new Map<number, unknown>([
      [1, structuredClone(chain[1])],
      [0, structuredClone(chain[0])],
    ])
    const { backfill, asked, saved } = backfillOf(membership, [serves(2), serves(2)], {
      saved: async (epoch) => onDisk.get(epoch),
    })
    expect(await backfill.start()).toEqual({ added: [2], missing: undefined })
    expect(asked).toEqual(['0:2'])
    expect(saved).toEqual([2])
    expect(membership.at(0)).toBeDefined()

    // A saved file that does not verify is refused, with a warning, and its epoch asked of the peers.
    const forged = { ...structuredClone(chain[1]!), start_tick: 999 }
    const second = backfillOf(holding(chain[2]!), [serves(1, 0)], {
      saved: async (e) => (e === 1 ? forged : undefined),
    })
    expect(await second.backfill.start()).toEqual({ added: [1, 0], missing: undefined })
    expect(second.asked).toEqual(['0:1', '0:0'])
    expect(second.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        epoch: 1,
        msg: 'a saved snapshot was refused: asking the peers for its epoch',
      }),
    )
  })

  it('survives every peer failing or timing out, asking each round again after its delay, and never rejects', async () => {
    const hangs: Peer = (_epoch, signal) =>
      new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
    const membership = holding(chain[3]!)
    const { backfill, asked, lines } = backfillOf(membership, [fails, hangs, fails], {
      requestTimeoutMs: 50,
      retryDelaysMs: [10, 20],
    })
    expect(await backfill.start()).toEqual({ added: [], missing: 2 })
    expect(asked).toEqual(['0:2', '1:2', '2:2', '0:2', '1:2', '2:2', '0:2', '1:2', '2:2'])
    expect(membership.at(2)).toBeUndefined()
    expect(lines).toContainEqual(expect.objectContaining({ level: 'warn', missing_epoch: 2, peers: 3 }))

    // A failure outside the requests (here the save) is logged, and the run still resolves.
    const broken = backfillOf(holding(chain[3]!), [serves(2)], {
      save: async () => {
        throw new Error('disk gone')
      },
    })
    expect(await broken.backfill.start()).toEqual({ added: [] })
    expect(broken.lines).toContainEqual(
      expect.objectContaining({ level: 'warn', msg: 'the snapshot backfill failed', reason: 'disk gone' }),
    )
  })

  it('asks again the peers that did not answer (peers starting with this node), never the ones that did', async () => {
    let calls = 0
    const late: Peer = async (epoch) =>
      ++calls <= 1 ? fails(epoch, new AbortController().signal) : chain[epoch]
    const { backfill, asked } = backfillOf(holding(chain[1]!), [late, fails, fails], { retryDelaysMs: [5] })
    expect(await backfill.start()).toEqual({ added: [0], missing: undefined })
    expect(asked).toEqual(['0:0', '1:0', '2:0', '0:0'])

    // docs/operations.md: a daemon asks again after 1, 2, 4 and 8 s.
    expect(DEFAULT_RETRY_DELAYS_MS).toEqual([1_000, 2_000, 4_000, 8_000])

    // One quick NOT_FOUND says nothing of the peers still starting: they are asked again, it is not.
    let starting = 0
    const slowStarter: Peer = async (epoch) =>
      ++starting <= 1 ? fails(epoch, new AbortController().signal) : chain[epoch]
    const mixed = backfillOf(holding(chain[1]!), [serves(), slowStarter, fails], { retryDelaysMs: [5, 5] })
    expect(await mixed.backfill.start()).toEqual({ added: [0], missing: undefined })
    expect(mixed.asked).toEqual(['0:0', '1:0', '2:0', '1:0'])

    // A peer's own refusal (an older release's INVALID_INPUT, NOT_ELIGIBLE) is an answer: warned
    // about with its code, and not asked again.
    const refuses: Peer = async () => {
      throw new RemoteError('INVALID_INPUT', 'SE_ERR_INVALID_INPUT', 'unknown op snapshot')
    }
    const definite = backfillOf(holding(chain[1]!), [serves(), refuses, fails], { retryDelaysMs: [5] })
    expect(await definite.backfill.start()).toEqual({ added: [], missing: 0 })
    expect(definite.asked).toEqual(['0:0', '1:0', '2:0', '2:0'])

    // Every peer answered (NOT_FOUND): nobody to ask again, so no delay is waited out.
    const answered = backfillOf(holding(chain[1]!), [serves(), serves(), serves()], {
      retryDelaysMs: [2_000],
    })
    const began = Date.now()
    expect(await answered.backfill.start()).toEqual({ added: [], missing: 0 })
    expect(Date.now() - began).toBeLessThan(1_000)
    expect(definite.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        code: 'INVALID_INPUT',
        msg: 'a peer refused a snapshot request',
      }),
    )
  })

  it('runs once at a time, ends at stop without another request, and starts no run after', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const slow: Peer = async (epoch) => {
      await gate
      return chain[epoch]
    }
    const membership = holding(chain[3]!)
    const { backfill, asked } = backfillOf(membership, [slow, serves(), serves()])
    const first = backfill.start()
    expect(backfill.start()).toBe(first)
    release()
    expect(await first).toEqual({ added: [2, 1, 0], missing: undefined })
    expect(asked).toEqual(['0:2', '0:1', '0:0'])

    const hangs: Peer = (_epoch, signal) =>
      new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
    const stopping = backfillOf(holding(chain[3]!), [hangs, serves(2), serves(2)], {
      requestTimeoutMs: 60_000,
    })
    const run = stopping.backfill.start()
    await new Promise((resolve) => setTimeout(resolve, 20))
    await stopping.backfill.stop()
    expect(await run).toEqual({ added: [], missing: 2 })
    expect(stopping.asked).toEqual(['0:2'])
    // Stopped, not failed: no warning that no peer had the epoch.
    expect(stopping.lines).toContainEqual(
      expect.objectContaining({ level: 'info', msg: 'the snapshot backfill stopped with the node' }),
    )
    expect(msgs(stopping.lines, 'warn')).toEqual([])
    expect(await stopping.backfill.start()).toEqual({ added: [] })
    expect(stopping.asked).toEqual(['0:2'])
  })

  it('asks nobody when this node is not in the snapshot in force (its peers would refuse it)', async () => {
    const others = entries.filter((e) => e.node_id !== self)
    const o0 = signed(0, others)
    const { backfill, asked } = backfillOf(holding(signed(1, others, { previous: o0 })), [
      async () => o0,
      async () => o0,
      async () => o0,
    ])
    expect(await backfill.start()).toEqual({ added: [], missing: 0 })
    expect(asked).toEqual([])
  })
})
