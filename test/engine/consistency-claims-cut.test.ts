import { afterEach, describe, expect, it, vi } from 'vitest'
import type { VersionRecord } from '../../src/core/record.js'
import { startPeerProber } from '../../src/daemon/peer-prober.js'
import { catchUp } from '../../src/engine/catalogue.js'
import type { EngineContext } from '../../src/engine/context.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import { RecentFailures } from '../../src/engine/peer-health.js'
import type { CommitRequest, NodeTransport, ShardSink } from '../../src/engine/transport.js'
import {
  afterTest,
  engineOn,
  findObject,
  type Harness,
  stagedOn,
  wrapAll,
} from './consistency-claims-helpers.js'
import { frozen, slowly, spyHealth } from './cut-short-helpers.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

/**
 * The statements of docs/consistency.md about peers cut off once a phase can do without them
 * (`settleAsking`) that no other test pinned.
 */

let h: Harness | undefined
const undo: Array<() => void> = []
afterEach(async () => {
  h = await afterTest(h, undo)
})

const QUICK_GRACE = { requestMs: 5_000, streamIdleMs: 5_000, suspectGraceMs: 5 }

describe('a cut-off', () => {
  it('changes an outcome only with a second fault: a shard left on exactly a majority by a cut-off at open fails if one of those replicas fails later', async () => {
    h = await inProcessHarness(5)
    const writer = h.nodeIds[0]!
    const p = findObject(h.nodeIds, 'second-fault', (o) => !o.replicas[0]!.includes(writer))
    const [, failing, slow] = p.replicas[0]! as [string, string, string]
    const oid = p.oid
    // The slow replica opens after a second; the failing one opens, then fails its finish.
    undo.push(
      wrapAll(h.net.transport, 'openShard', async (original, node, ...rest) => {
        if (node === slow) return slowly(slow, 1_000)(original as never, node, ...rest)
        const sink = (await original(node, ...rest)) as ShardSink
        if (node !== failing || (rest[0] as { object_id: string }).object_id !== oid) return sink
        return {
          ...sink,
          finish: async () => {
            throw new NodeUnavailableError(`${failing} failed`)
          },
        } satisfies ShardSink
      }),
    )
    const content = bytesOf('second-fault', 600_000)
    // Suspect, the slow replica is cut off at open, and the shard ends on one replica.
    const cut = await engineOn(h, writer, { timeouts: QUICK_GRACE }, spyHealth([slow])).putContent(
      oid,
      1,
      content,
      meta(1),
    )
    expect(cut).toMatchObject({ ok: false, code: 'QUORUM_NOT_REACHED' })
    for (const n of h.nodeIds) expect(await stagedOn(h, n, oid)).toBe(0)
    // Not suspect, it is waited for, and its copy saves the write.
    const waited = await engineOn(h, writer, { timeouts: QUICK_GRACE }).putContent(oid, 1, content, meta(1))
    expect(waited).toMatchObject({
      ok: true,
      under_replicated: { [waited.ok ? waited.shard_ids[0]! : '']: [failing] },
    })
  })

  it('of a holder whose commit had gone out leaves it under-replicated in the answer, though it commits', async () => {
    h = await inProcessHarness(5)
    const writer = h.nodeIds[0]!
    const p = findObject(h.nodeIds, 'late-commit', (o) =>
      o.replicas.some((r) => r.some((n) => n !== writer && !o.homes.includes(n))),
    )
    const late = p.replicas.flat().find((n) => n !== writer && !p.homes.includes(n))!
    const landed: Promise<unknown>[] = []
    undo.push(
      wrapAll(h.net.transport, 'commitVersion', (original, node, ...rest) => {
        if (node !== late) return original(node, ...rest)
        // The request is on its way: the coordinator's cut-off no longer stops it.
        const commit = new Promise((r) => setTimeout(r, 200)).then(() => original(node, rest[0]))
        landed.push(commit)
        return Promise.race([commit, frozen((rest[1] as { signal?: AbortSignal } | undefined)?.signal)])
      }),
    )
    const put = await engineOn(h, writer, { timeouts: QUICK_GRACE }, spyHealth([late])).putContent(
      p.oid,
      1,
      bytesOf('late-commit', 5000),
      meta(1),
    )
    if (!put.ok) throw new Error(JSON.stringify(put))
    const held = put.shard_ids.filter((id) => put.replica_sets[id]!.includes(late))
    expect(held.length).toBeGreaterThan(0)
    for (const id of held) expect(put.under_replicated[id]).toEqual([late])
    await Promise.all(landed)
    for (const id of held) expect(await h.net.node(late).store.getManifest(id)).toBeDefined()
  })
})

describe('catching a lagging home up', () => {
  const R = { object_id: 'o', version: 1 } as unknown as VersionRecord
  /** Five homes: `holding` answer R for version 1, `lagging` nothing, `suspect` R after `delay`. */
  async function catchUpWith(holding: string[], delay: number | 'never'): Promise<string[]> {
    const pushed: string[] = []
    const transport = {
      getRecord: async (
        node: string,
        _oid: string,
        version: number | 'latest',
        o?: { signal?: AbortSignal },
      ) => {
        if (node === 'lagging') return undefined
        if (node === 'suspect') {
          if (delay === 'never') return frozen(o?.signal)
          await Promise.race([new Promise((r) => setTimeout(r, delay)), frozen(o?.signal)])
          return R
        }
        return holding.includes(node) && (version === 'latest' || version === 1) ? R : undefined
      },
      commitVersion: async (node: string, request: CommitRequest) => {
        pushed.push(`${node} v${request.record.version}`)
        return { node_id: node, event_id: null, idempotent: false, home: true, shard_ids: [] }
      },
    } as unknown as NodeTransport
    // A deadline no test waits out: a frozen home is passed over only by a cut-off.
    const ctx: EngineContext = {
      nodeId: 'x',
      transport,
      timeouts: { requestMs: 600_000, streamIdleMs: 600_000, suspectGraceMs: 5 },
      health: spyHealth(['suspect']),
    }
    await catchUp(ctx, ['a', 'b', 'c', 'lagging', 'suspect'], 'lagging', 'o', 2)
    return pushed
  }

  it('stops waiting for a suspect home once one record has a majority', async () => {
    expect(await catchUpWith(['a', 'b', 'c'], 'never')).toEqual(['lagging v1'])
  })

  it('waits for a suspect home whose answer completes the majority', async () => {
    expect(await catchUpWith(['a', 'b'], 30)).toEqual(['lagging v1'])
  })
})

describe('probes', () => {
  it('make a peer that leaves a ping unanswered for the default 2 s suspect', async () => {
    vi.useFakeTimers()
    const seen: string[] = []
    const health = new RecentFailures({ now: () => 0, onFailure: (n, c) => seen.push(`${n}:${c}`) })
    // A frozen peer: its ping settles only when the prober gives up on it.
    const ping = (_peer: string, signal: AbortSignal) => frozen<number>(signal)
    const prober = startPeerProber({
      peers: () => ['f'],
      ping,
      health,
      intervalMs: 5_000,
      now: () => Date.now(),
    })
    try {
      await vi.advanceTimersByTimeAsync(5_000 + 1_999)
      expect(seen).toEqual([])
      // The deadline aborts after the turn's I/O (setImmediate), one fake tick later.
      await vi.advanceTimersByTimeAsync(2)
      expect(seen).toEqual(['f:TIMEOUT'])
      expect(health.suspect('f')).toBe(true)
    } finally {
      await prober.stop()
      vi.useRealTimers()
    }
  })
})
