import { describe, expect, it } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { EligibleSet } from '../../src/core/placement.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import type { PeerHealth } from '../../src/engine/peer-health.js'
import type { ShardSink, StagedShardInfo } from '../../src/engine/transport.js'
import {
  coordinatorEngine,
  frozenPeer,
  intercept,
  slowly,
  spyHealth,
  unreachable,
} from './cut-short-helpers.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

describe('each write phase waits for a slow suspect peer when another peer failed and it is needed', () => {
  type H = Awaited<ReturnType<typeof inProcessHarness>>
  function engineWith(h: H, health: PeerHealth) {
    const coordinator = h.nodeIds[0]!
    return coordinatorEngine(h, coordinator, health, {
      requestMs: 5_000,
      streamIdleMs: 5_000,
      suspectGraceMs: 5,
    })
  }
  /** The first object whose placement satisfies `fits`, and the nodes it picked. */
  function pick(
    h: H,
    label: string,
    fits: (homes: string[], replicas: string[][]) => [string, string] | undefined,
  ) {
    const eligible = new EligibleSet(h.nodeIds)
    for (let i = 0; ; i++) {
      const oid = objectId('cut-phase', `${label}-${i}`)
      const homes = eligible.catalogueHomes(oid, 3)
      const replicas = [0, 1, 2, 3].map((k) => eligible.place(shardId(oid, 1, k), 3).selected)
      const got = fits(homes, replicas)
      if (got !== undefined) return { oid, failing: got[0], slow: got[1] }
    }
  }
  async function put(h: H, oid: string, slow: string, undo: Array<() => void>) {
    const health = spyHealth([slow])
    try {
      const content = bytesOf(oid, 4096)
      const result = await engineWith(h, health).putContent(oid, 1, content, meta(1))
      if (!result.ok) throw new Error(JSON.stringify(result))
      const got = await h.engine(h.nodeIds[0]!).getContent(oid, 1)
      expect(got.ok && Buffer.from(got.content_bytes).equals(Buffer.from(content))).toBe(true)
    } finally {
      for (const u of undo) u()
    }
  }
  const coordinatorOf = (h: H) => h.nodeIds[0]!

  type Fits = (c: string, homes: string[], replicas: string[][]) => [string, string] | undefined
  /** A shard whose three replicas exclude the coordinator: one fails, one is slow. */
  const remoteShard: Fits = (c, _homes, replicas) => {
    const r = replicas.find((set) => set.filter((n) => n !== c).length === 3)
    return r === undefined ? undefined : [r[0]!, r[1]!]
  }
  const otherRoot = async (original: (...a: unknown[]) => Promise<unknown>, ...args: unknown[]) => {
    const staged = (await original(...args)) as StagedShardInfo[]
    return staged.map((i) => ({ ...i, merkle_root: '00'.repeat(32) }))
  }
  const cases: Array<{
    what: string
    fits: Fits
    method: 'stageShards' | 'commitVersion'
    failing?: (
      node: string,
    ) => (original: (...a: unknown[]) => Promise<unknown>, ...args: unknown[]) => Promise<unknown>
  }> = [
    { what: 'stage: a shard with one replica refusing', fits: remoteShard, method: 'stageShards' },
    {
      what: 'stage: a shard with one replica answering another root',
      fits: remoteShard,
      method: 'stageShards',
      failing: () => otherRoot,
    },
    {
      what: 'decide: one home refusing, the slow one holding nothing of the write',
      fits: (c, homes, replicas) => {
        const holds = (n: string) => replicas.some((set) => set.includes(n))
        const [f, s] = homes.filter((n) => n !== c && !holds(n))
        return f !== undefined && s !== undefined ? [f, s] : undefined
      },
      method: 'commitVersion',
    },
    {
      // Without the slow home's commit (carried by its decide answer) the shard would have one copy:
      // a home that staged shards of the write is never cut off.
      what: 'decide: a holder outside the homes failing, the slow home holding the same shard',
      fits: (c, homes, replicas) => {
        for (const set of replicas) {
          const holder = set.find((n) => !homes.includes(n) && n !== c)
          const home = set.find((n) => homes.includes(n) && n !== c)
          const third = set.find((n) => n !== holder && n !== home)
          if (holder !== undefined && home !== undefined && third === c) return [holder, home]
        }
        return undefined
      },
      method: 'commitVersion',
    },
    {
      what: 'commit: one holder failing, the slow one a holder too',
      fits: (c, homes, replicas) => {
        for (const set of replicas) {
          const holders = set.filter((n) => !homes.includes(n) && n !== c)
          if (holders.length === 2) return [holders[0]!, holders[1]!]
        }
        return undefined
      },
      method: 'commitVersion',
    },
  ]

  it.each(cases)('$what: the slow suspect is waited for and the write succeeds', async (c) => {
    const h = await inProcessHarness(5)
    try {
      const { oid, failing, slow } = pick(h, c.what, (homes, replicas) =>
        c.fits(coordinatorOf(h), homes, replicas),
      )
      await put(h, oid, slow, [
        intercept(h.net.transport, c.method, failing, (c.failing ?? unreachable)(failing)),
        intercept(h.net.transport, c.method, slow, slowly(slow, 100)),
      ])
    } finally {
      await h.close()
    }
  })

  /** Shard 0 of a streamed object with two replicas other than the coordinator. */
  const streamedPick = (h: H, label: string) =>
    pick(h, label, (_homes, replicas) => {
      const others = replicas[0]!.filter((n) => n !== coordinatorOf(h))
      return others.length >= 2 ? [others[0]!, others[1]!] : undefined
    })
  async function putStreamed(h: H, oid: string, slow: string, undo: Array<() => void>) {
    const health = spyHealth([slow])
    try {
      const content = bytesOf(oid, 600_000)
      const result = await engineWith(h, health).putContent(oid, 1, content, meta(1))
      return { result, health }
    } finally {
      for (const u of undo) u()
    }
  }
  /** A sink whose finish is replaced. */
  const finishing =
    (finish: (sink: ShardSink, options?: { signal?: AbortSignal }) => Promise<StagedShardInfo>) =>
    async (original: (...a: unknown[]) => Promise<unknown>, ...args: unknown[]) => {
      const sink = (await original(...args)) as ShardSink
      return {
        write: (chunk: Uint8Array) => sink.write(chunk),
        abort: (reason?: Error) => sink.abort(reason),
        finish: (options?: { signal?: AbortSignal }) => finish(sink, options),
      } satisfies ShardSink
    }

  it('open: a shard with one replica unreachable waits for the slow suspect one to open', async () => {
    const h = await inProcessHarness(5)
    try {
      const { oid, failing, slow } = streamedPick(h, 'open')
      const { result } = await putStreamed(h, oid, slow, [
        intercept(h.net.transport, 'openShard', failing, unreachable(failing)),
        intercept(h.net.transport, 'openShard', slow, slowly(slow, 100)),
      ])
      expect(result).toMatchObject({ ok: true })
    } finally {
      await h.close()
    }
  })

  it('open: a slow suspect replica cut off at open is not reported to the health record', async () => {
    const h = await inProcessHarness(5)
    try {
      const { oid, slow } = streamedPick(h, 'open-cut')
      const { result, health } = await putStreamed(h, oid, slow, [
        intercept(h.net.transport, 'openShard', slow, slowly(slow, 1_000)),
      ])
      expect(result).toMatchObject({ ok: true })
      expect(health.reports.filter((r) => r.startsWith(`${slow}:`) && !r.endsWith(':ok'))).toEqual([])
    } finally {
      await h.close()
    }
  })

  it('finish: a shard with one replica failing its finish waits for the slow suspect one', async () => {
    const h = await inProcessHarness(5)
    try {
      const { oid, failing, slow } = streamedPick(h, 'finish')
      const { result } = await putStreamed(h, oid, slow, [
        intercept(
          h.net.transport,
          'openShard',
          failing,
          finishing(async () => {
            throw new NodeUnavailableError(`${failing} failed`)
          }),
        ),
        intercept(
          h.net.transport,
          'openShard',
          slow,
          finishing(async (sink, options) => {
            await Promise.race([new Promise((r) => setTimeout(r, 100)), frozenPeer(slow, options!.signal!)])
            return sink.finish()
          }),
        ),
      ])
      expect(result).toMatchObject({ ok: true })
    } finally {
      await h.close()
    }
  })

  it('preflight: with one home unreachable, a large write waits for the slow suspect home before moving bytes', async () => {
    const h = await inProcessHarness(5)
    try {
      const c = coordinatorOf(h)
      const { oid, failing, slow } = pick(h, 'preflight', (homes) => {
        const [f, s] = homes.filter((n) => n !== c)
        return f !== undefined && s !== undefined ? [f, s] : undefined
      })
      expect((await h.engine(c).putContent(oid, 1, bytesOf('v1', 10), meta(1))).ok).toBe(true)
      let opened = 0
      const t = h.net.transport as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>
      const undo = [
        intercept(h.net.transport, 'getRecord', failing, unreachable(failing)),
        intercept(h.net.transport, 'getRecord', slow, slowly(slow, 100, 3)),
      ]
      const open = t.openShard!
      t.openShard = (...args: unknown[]) => {
        opened++
        return open.apply(h.net.transport, args)
      }
      undo.push(() => {
        t.openShard = open
      })
      try {
        // Version 3 after 1 leaves a gap: the two homes that answer say so before any shard opens.
        const put = await engineWith(h, spyHealth([slow])).putContent(
          oid,
          3,
          bytesOf('gap', 5 * 1024 * 1024),
          meta(3),
        )
        expect(put).toMatchObject({ ok: false, error_code: 'SE_ERR_INVALID_VERSION' })
        expect(opened).toBe(0)
      } finally {
        for (const u of undo) u()
      }
    } finally {
      await h.close()
    }
  })
})
