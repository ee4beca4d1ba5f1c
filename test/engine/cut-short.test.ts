import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { EligibleSet } from '../../src/core/placement.js'
import type { VersionRecord } from '../../src/core/record.js'
import { resolveRecord } from '../../src/engine/catalogue.js'
import { CUT_AGAIN_MS, type EngineContext, type Settled, settleAsking } from '../../src/engine/context.js'
import { CutShortError, NodeUnavailableError } from '../../src/engine/errors.js'
import { type PeerHealth, RecentFailures } from '../../src/engine/peer-health.js'
import type { NodeTransport, ShardSink } from '../../src/engine/transport.js'
import { coordinatorEngine, freeze, frozen, frozenPeer, intercept, spyHealth } from './cut-short-helpers.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

function contextWith(health: PeerHealth, transport = {} as NodeTransport): EngineContext {
  return {
    nodeId: 'self',
    transport,
    health,
    timeouts: { requestMs: 60_000, streamIdleMs: 60_000, suspectGraceMs: 0 },
  }
}

describe('settleAsking', () => {
  type Outcome = 'ok' | 'fail' | 'hang'
  it('cuts off only suspect peers, only once every other peer answered and the answers suffice (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ suspect: fc.boolean(), outcome: fc.constantFrom<Outcome>('ok', 'fail', 'hang') }),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        fc.integer({ min: 0, max: 6 }),
        fc.array(fc.nat(), { minLength: 6, maxLength: 6 }),
        async (peers, need, order) => {
          const nodes = peers.map((_, i) => `n${i}`)
          // A hanging peer that is not suspect is just slow: it answers after everyone else.
          const plan = peers.map((p) => (p.outcome === 'hang' && !p.suspect ? 'late' : p.outcome))
          const health = spyHealth(nodes.filter((_, i) => peers[i]!.suspect))
          const enough = (answers: ReadonlyArray<Settled<string>>) =>
            answers.filter((a) => a.value !== undefined).length >= need
          const deadline = new Error('deadline')
          const results = await settleAsking<string>(
            contextWith(health),
            nodes,
            { enough },
            async (node, signal) => {
              const i = nodes.indexOf(node)
              // Answer in a fixed but arbitrary order, a few macrotasks apart.
              await new Promise((r) => setTimeout(r, order[i]! % 4))
              const what = plan[i]!
              // A frozen peer answers nothing; its exchange ends at its deadline unless cut off first.
              if (what === 'hang') {
                const timer = new AbortController()
                const t = setTimeout(() => timer.abort(deadline), 60)
                return frozen<string>(AbortSignal.any([signal!, timer.signal])).finally(() => clearTimeout(t))
              }
              if (what === 'late') await new Promise((r) => setTimeout(r, 5))
              if (what === 'fail') throw new NodeUnavailableError(`${node} away`)
              return `answer of ${node}`
            },
          )
          expect(results.map((r) => r.node)).toEqual(nodes)
          const answered = results.filter((_, i) => plan[i] !== 'hang')
          const kept = results.filter((r) => !(r.error instanceof CutShortError))
          // Only suspect peers are cut off, and only when the answers kept suffice.
          if (kept.length < results.length) expect(enough(kept)).toBe(true)
          for (const [i, r] of results.entries()) {
            const what = plan[i]!
            if (r.error instanceof CutShortError) {
              expect(peers[i]!.suspect).toBe(true)
              continue
            }
            if (what === 'ok' || what === 'late') expect(r.value).toBe(`answer of ${nodes[i]}`)
            if (what === 'fail') expect(r.error).toBeInstanceOf(NodeUnavailableError)
            // A frozen suspect is waited for to its deadline only when the phase cannot do without it.
            if (what === 'hang') expect([r.error, enough(answered)]).toEqual([deadline, false])
          }
          // settleAsking itself reports nothing; `ask` does, and never for a cut-off.
          expect(health.reports).toEqual([])
        },
      ),
      { seed: 0xc075, numRuns: 120 },
    )
  })

  it('waits for a suspect peer the answers cannot do without, and uses its answer', async () => {
    const health = spyHealth(['b'])
    const results = await settleAsking<number>(
      contextWith(health),
      ['a', 'b'],
      { enough: (got) => got.filter((g) => g.value !== undefined).length >= 2 },
      async (node) => {
        await new Promise((r) => setTimeout(r, node === 'b' ? 30 : 0))
        return node === 'a' ? 1 : 2
      },
    )
    expect(results).toEqual([
      { node: 'a', value: 1 },
      { node: 'b', value: 2 },
    ])
  })

  it('is plain settle without suspects: a slow peer is waited for even when the others suffice', async () => {
    const health = spyHealth([])
    const results = await settleAsking<number>(
      contextWith(health),
      ['a', 'b'],
      { enough: () => true },
      async (node) => {
        await new Promise((r) => setTimeout(r, node === 'b' ? 30 : 0))
        return 7
      },
    )
    expect(results.every((r) => r.value === 7)).toBe(true)
  })
})

describe('a record lookup of the latest with a suspect home', () => {
  const record = (version: number) => ({ object_id: 'o', version }) as unknown as VersionRecord
  /** Homes a, b, f answering 'latest' with these versions; f is suspect and answers after `fDelay`. */
  function lookup(latest: Record<string, number | 'error'>, fDelay: number | 'never') {
    const transport = {
      getRecord: async (
        node: string,
        _oid: string,
        version: number | 'latest',
        opts?: { signal?: AbortSignal },
      ) => {
        if (latest[node] === 'error') throw new NodeUnavailableError(`${node} is unreachable`)
        if (node === 'f') {
          if (fDelay === 'never') return frozen(opts?.signal)
          await Promise.race([new Promise((r) => setTimeout(r, fDelay)), frozen(opts?.signal)])
        }
        const held = latest[node] as number
        const v = version === 'latest' ? held : version <= held ? version : undefined
        return v === undefined || v === 0 ? undefined : record(v)
      },
    } as unknown as NodeTransport
    const ctx = contextWith(spyHealth(['f']), transport)
    return resolveRecord(ctx, ['a', 'b', 'f'], 'o', 'latest')
  }

  it('does not wait for it once the others agree on the latest', async () => {
    // A 60 s deadline: waiting for the frozen home would time the test out.
    expect((await lookup({ a: 1, b: 1, f: 2 }, 'never')).version).toBe(1)
  })

  it('waits for it when too few others answered, since its answer completes the majority', async () => {
    expect((await lookup({ a: 1, b: 'error', f: 1 }, 30)).version).toBe(1)
  })

  it('waits for it when the others disagree, since it may hold the decided latest', async () => {
    // Version 2 is held by a and f: a majority. Cutting f short would answer 1.
    expect((await lookup({ a: 2, b: 1, f: 2 }, 30)).version).toBe(2)
  })
})

describe('writes with a suspect frozen peer', () => {
  it('complete without waiting its deadline; the cut-off neither renews nor clears its suspicion', async () => {
    const h = await inProcessHarness(5)
    try {
      const eligible = new EligibleSet(h.nodeIds)
      const coordinator = h.nodeIds[0]!
      const away = h.nodeIds[3]!
      const holds = (oid: string) =>
        [0, 1, 2, 3].some((k) => eligible.place(shardId(oid, 1, k), 3).selected.includes(away))
      const find = (label: string, home: boolean) => {
        for (let i = 0; ; i++) {
          const oid = objectId('cut', `${label}-${i}`)
          if (holds(oid) && eligible.catalogueHomes(oid, 3).includes(away) === home) return oid
        }
      }
      let now = 0
      const health = new RecentFailures({ now: () => now })
      const seen: string[] = []
      const spy: PeerHealth = {
        failed: (n, c) => {
          seen.push(`${n}:${c}`)
          health.failed(n, c)
        },
        answered: (n) => {
          seen.push(`${n}:ok`)
          health.answered(n)
        },
        suspect: (n) => health.suspect(n),
      }
      // A deadline no test waits out: the writes below finish only if the frozen peer is cut off.
      const engine = coordinatorEngine(h, coordinator, spy, {
        requestMs: 600_000,
        streamIdleMs: 600_000,
        suspectGraceMs: 5,
      })
      health.failed(away, 'TIMEOUT')
      const thaw = freeze(h.net.transport, away)
      const cases = [
        // A home and a replica: preflight, whole stage and decide go on without it.
        { oid: find('home', true), size: 4096 },
        // A replica only: the commit goes on without it.
        { oid: find('holder', false), size: 4096 },
        // Streamed in shards (above the whole-stage size): the shard finish goes on without it.
        { oid: find('streamed', true), size: 600_000 },
      ]
      try {
        for (const c of cases) {
          const content = bytesOf(c.oid, c.size)
          const put = await engine.putContent(c.oid, 1, content, meta(1))
          if (!put.ok) throw new Error(JSON.stringify(put))
          expect(Object.values(put.under_replicated).flat()).toContain(away)
          const got = await h.engine(h.nodeIds[1]!).getContent(c.oid, 1)
          expect(got.ok && Buffer.from(got.content_bytes).equals(Buffer.from(content))).toBe(true)
          now += 1_000
        }
        // Nothing was learnt of the frozen peer from being cut off: its suspicion runs out on time.
        expect(seen.filter((s) => s.startsWith(`${away}:`))).toEqual([])
        expect(health.suspect(away)).toBe(true)
      } finally {
        thaw()
      }
    } finally {
      await h.close()
    }
  }, 30_000)

  it('still wait for a suspect peer the quorum needs', async () => {
    const h = await inProcessHarness(5)
    try {
      const coordinator = h.nodeIds[0]!
      const eligible = new EligibleSet(h.nodeIds)
      const [away, down] = [h.nodeIds[3]!, h.nodeIds[4]!]
      // An object whose homes include both: with one down, the frozen one is needed for a majority.
      let oid = ''
      for (let i = 0; ; i++) {
        oid = objectId('cut', `needed-${i}`)
        const homes = eligible.catalogueHomes(oid, 3)
        if (homes.includes(away) && homes.includes(down)) break
      }
      const health = spyHealth([away])
      const engine = coordinatorEngine(h, coordinator, health, {
        requestMs: 300,
        streamIdleMs: 300,
        suspectGraceMs: 1,
      })
      await h.setDown(down, true)
      const thaw = freeze(h.net.transport, away)
      try {
        const put = await engine.putContent(oid, 1, bytesOf('needed', 100), meta(1))
        // It waited the frozen home's deadline (TIMEOUT reported), then missed the quorum.
        expect(put).toMatchObject({ ok: false })
        expect(health.reports.some((r) => r.startsWith(`${away}:`) && !r.endsWith(':CUT_SHORT'))).toBe(true)
      } finally {
        thaw()
        await h.setDown(down, false)
      }
    } finally {
      await h.close()
    }
  })
})

describe('a caller that gives up during a shard finish', () => {
  it('is not blamed on the replicas', async () => {
    const h = await inProcessHarness(5)
    try {
      const coordinator = h.nodeIds[0]!
      const eligible = new EligibleSet(h.nodeIds)
      const oid = objectId('cut', 'caller-abort')
      const x = eligible.place(shardId(oid, 1, 0), 3).selected.find((n) => n !== coordinator)!
      const health = spyHealth([])
      const engine = coordinatorEngine(h, coordinator, health, { requestMs: 5_000, streamIdleMs: 5_000 })
      const client = new AbortController()
      const undo = intercept(h.net.transport, 'openShard', x, async (original, ...args) => {
        const sink = (await original(...args)) as ShardSink
        return {
          write: (chunk: Uint8Array) => sink.write(chunk),
          abort: (reason?: Error) => sink.abort(reason),
          finish: async (options?: { signal?: AbortSignal }) => {
            // The client falls behind while this replica's answer is on its way.
            setTimeout(() => client.abort(new Error('client gone')), 5)
            await Promise.race([new Promise((r) => setTimeout(r, 500)), frozenPeer(x, options!.signal!)])
            return sink.finish()
          },
        } satisfies ShardSink
      })
      try {
        const put = await engine.putContent(oid, 1, bytesOf('caller-abort', 600_000), meta(1), {
          signal: client.signal,
        })
        expect(put.ok).toBe(false)
        expect(health.reports.filter((r) => !r.endsWith(':ok'))).toEqual([])
      } finally {
        undo()
      }
    } finally {
      await h.close()
    }
  })
})

describe('the grace of a suspect peer', () => {
  it('runs from the moment the phase could do without it, and leaves no timer behind', async () => {
    vi.useFakeTimers()
    try {
      const ctx = contextWith(spyHealth(['s']))
      ctx.timeouts.suspectGraceMs = 1_000
      let cutAt: number | undefined
      const started = Date.now()
      const done = settleAsking<number>(
        ctx,
        ['a', 's'],
        { enough: (got) => got.length >= 1 },
        (node, signal) => {
          if (node === 'a') return new Promise((r) => setTimeout(() => r(1), 300))
          return frozen<number>(signal).catch((e: unknown) => {
            cutAt = Date.now() - started
            throw e
          })
        },
      )
      await vi.advanceTimersByTimeAsync(1_299)
      expect(cutAt).toBeUndefined()
      await vi.advanceTimersByTimeAsync(1)
      const results = await done
      expect(cutAt).toBe(1_300)
      expect(results[1]!.error).toBeInstanceOf(CutShortError)
      expect(vi.getTimerCount()).toBe(0)
      // A suspect that answers within its grace is not cut, and the grace is cleared with it.
      const answered = settleAsking<number>(ctx, ['a', 's'], { enough: () => true }, async (node) =>
        node === 'a' ? 1 : new Promise((r) => setTimeout(() => r(2), 200)),
      )
      await vi.advanceTimersByTimeAsync(200)
      expect((await answered).map((r) => r.value)).toEqual([1, 2])
      expect(vi.getTimerCount()).toBe(0)
      // A peer the operation already cut off gets only CUT_AGAIN_MS; one cut here is noted.
      const cutBefore = new Set<string>()
      const first = settleAsking<number>(
        ctx,
        ['a', 's'],
        { enough: () => true, cutBefore },
        (node, signal) => (node === 'a' ? Promise.resolve(1) : frozen<number>(signal)),
      )
      await vi.advanceTimersByTimeAsync(1_000)
      expect((await first)[1]!.error).toBeInstanceOf(CutShortError)
      expect([...cutBefore]).toEqual(['s'])
      const startedAgain = Date.now()
      let cutAgainAt: number | undefined
      const again = settleAsking<number>(
        ctx,
        ['a', 's'],
        { enough: () => true, cutBefore },
        (node, signal) =>
          node === 'a'
            ? Promise.resolve(1)
            : frozen<number>(signal).catch((e: unknown) => {
                cutAgainAt = Date.now() - startedAgain
                throw e
              }),
      )
      await vi.advanceTimersByTimeAsync(CUT_AGAIN_MS)
      expect((await again)[1]!.error).toBeInstanceOf(CutShortError)
      expect(cutAgainAt).toBe(CUT_AGAIN_MS)
      // Once it answers, it is alive: the operation gives it the full grace again.
      const answers = settleAsking<number>(
        ctx,
        ['a', 's'],
        { enough: () => true, cutBefore },
        async (node) => (node === 'a' ? 1 : new Promise((r) => setTimeout(() => r(2), 10))),
      )
      await vi.advanceTimersByTimeAsync(10)
      expect((await answers).map((r) => r.value)).toEqual([1, 2])
      expect([...cutBefore]).toEqual([])
    } finally {
      vi.useRealTimers()
    }
  })
})
