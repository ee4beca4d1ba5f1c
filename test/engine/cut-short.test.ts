import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { EligibleSet } from '../../src/core/placement.js'
import type { VersionRecord } from '../../src/core/record.js'
import { DeterministicTime } from '../../src/core/time.js'
import { resolveRecord } from '../../src/engine/catalogue.js'
import { type EngineContext, type Settled, settleAsking } from '../../src/engine/context.js'
import { StorageEngine } from '../../src/engine/engine.js'
import { CutShortError, NodeUnavailableError } from '../../src/engine/errors.js'
import type { InProcessTransport } from '../../src/engine/in-process.js'
import { type PeerHealth, RecentFailures } from '../../src/engine/peer-health.js'
import type { NodeTransport } from '../../src/engine/transport.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

/** A health record that remembers every report, over a fixed set of suspects. */
function spyHealth(suspects: Iterable<string>): PeerHealth & { reports: string[] } {
  const away = new Set(suspects)
  const reports: string[] = []
  return {
    reports,
    failed: (n, c) => reports.push(`${n}:${c}`),
    answered: (n) => reports.push(`${n}:ok`),
    suspect: (n) => away.has(n),
  }
}

function contextWith(health: PeerHealth, transport = {} as NodeTransport): EngineContext {
  return {
    nodeId: 'self',
    transport,
    health,
    timeouts: { requestMs: 60_000, streamIdleMs: 60_000, suspectGraceMs: 0 },
  }
}

/** A promise that settles only when `signal` aborts, with its reason: a frozen peer. */
function frozen<T>(signal: AbortSignal | undefined): Promise<T> {
  return new Promise<T>((_, reject) => {
    if (signal === undefined) return
    if (signal.aborted) reject(signal.reason)
    signal.addEventListener('abort', () => reject(signal.reason), { once: true })
  })
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
  function lookup(latest: Record<string, number>, fDelay: number | 'never') {
    const transport = {
      getRecord: async (
        node: string,
        _oid: string,
        version: number | 'latest',
        opts?: { signal?: AbortSignal },
      ) => {
        if (node === 'f') {
          if (fDelay === 'never') return frozen(opts?.signal)
          await Promise.race([new Promise((r) => setTimeout(r, fDelay)), frozen(opts?.signal)])
        }
        const held = latest[node]!
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

  it('waits for it when the others disagree, since it may hold the decided latest', async () => {
    // Version 2 is held by a and f: a majority. Cutting f short would answer 1.
    expect((await lookup({ a: 2, b: 1, f: 2 }, 30)).version).toBe(2)
  })
})

/** Makes every exchange with `node` hang until its deadline or cut-off, as a SIGSTOPped daemon does. */
function freeze(transport: InProcessTransport, node: string): () => void {
  const t = transport as unknown as Record<string, (...args: unknown[]) => unknown>
  const saved = new Map<string, (...args: unknown[]) => unknown>()
  const withOptions: Record<string, number> = {
    stageShards: 2,
    commitVersion: 2,
    abortStaging: 2,
    getRecord: 3,
    getManifest: 2,
    listRecords: 2,
  }
  for (const [name, at] of Object.entries(withOptions)) {
    const original = t[name]!.bind(transport)
    saved.set(name, t[name]!)
    t[name] = (...args: unknown[]) => {
      if (args[0] !== node) return original(...args)
      const signal = (args[at] as { signal?: AbortSignal } | undefined)?.signal
      return frozen(signal ?? AbortSignal.timeout(200))
    }
  }
  // Opening a small shard reaches no peer over libp2p (it travels whole at finish): only the finish hangs.
  saved.set('openShard', t.openShard!)
  const open = t.openShard!.bind(transport)
  t.openShard = (...args: unknown[]) => {
    if (args[0] !== node) return open(...args)
    return Promise.resolve({
      write: async () => {},
      finish: (options?: { signal?: AbortSignal }) => frozen(options?.signal ?? AbortSignal.timeout(200)),
      abort: async () => {},
    })
  }
  return () => {
    for (const [name, fn] of saved) t[name] = fn
  }
}

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
      const engine = new StorageEngine(
        {
          nodeId: coordinator,
          transport: h.net.transport,
          membership: h.net.membership,
          log: h.net.node(coordinator).log,
          time: new DeterministicTime(),
          health: spy,
        },
        { timeouts: { requestMs: 600_000, streamIdleMs: 600_000, suspectGraceMs: 5 } },
      )
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
      const engine = new StorageEngine(
        {
          nodeId: coordinator,
          transport: h.net.transport,
          membership: h.net.membership,
          log: h.net.node(coordinator).log,
          time: new DeterministicTime(),
          health,
        },
        { timeouts: { requestMs: 300, streamIdleMs: 300, suspectGraceMs: 1 } },
      )
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
