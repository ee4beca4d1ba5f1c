import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { EligibleSet } from '../../src/core/placement.js'
import type { VersionRecord } from '../../src/core/record.js'
import { decidedRecord, resolveRecord } from '../../src/engine/catalogue.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import type { NodeTransport } from '../../src/engine/transport.js'
import type { StorageEvent } from '../../src/log/index.js'
import { findObject } from './consistency-claims-helpers.js'
import { forgeRecord } from './forged-record.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

type Harness = Awaited<ReturnType<typeof inProcessHarness>>

/** Until `probe` holds (background repair), or fail after ~2 s. */
async function eventually(probe: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await probe()) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error('condition not reached')
}

describe('catalogue homes: lagging homes, repeats and conflicts', () => {
  let h: Harness
  beforeAll(async () => {
    h = await inProcessHarness(5)
  })
  afterAll(async () => {
    await h?.close()
  })

  const setup = (name: string) => {
    const oid = objectId('catalogue', name)
    const [h1, h2, h3] = new EligibleSet(h.nodeIds).catalogueHomes(oid, 3) as [string, string, string]
    const coordinator = h.nodeIds.find((n) => ![h1, h2, h3].includes(n))!
    return { oid, h1, h2, h3, e: h.engine(coordinator), coordinator }
  }
  const holds = async (node: string, oid: string, v: number) =>
    (await h.net.node(node).service.getRecord(oid, v)) !== undefined

  it('a read brings a home that missed a version up to date, so one more failure is survived', async () => {
    const { oid, h1, h3, e } = setup('read-repair')
    await h.setDown(h3, true)
    const v1 = await e.putContent(oid, 1, bytesOf('rr-1', 4000), meta(1))
    expect(v1.ok).toBe(true)
    await h.setDown(h3, false)
    expect(await holds(h3, oid, 1)).toBe(false)
    expect((await e.getContent(oid, 1)).ok).toBe(true)
    await eventually(() => holds(h3, oid, 1))
    await h.setDown(h1, true)
    try {
      expect(await e.getContent(oid)).toMatchObject({ ok: true, version: 1 })
      expect(await e.putContent(oid, 2, bytesOf('rr-2', 4000), meta(2))).toMatchObject({ ok: true })
    } finally {
      await h.setDown(h1, false)
    }
  })

  it('a read of an exact version catches up a home that missed it and whose answer failed', async () => {
    const { oid, h3, e } = setup('exact-failed')
    await h.setDown(h3, true)
    expect((await e.putContent(oid, 1, bytesOf('ef-1', 3000), meta(1))).ok).toBe(true)
    await h.setDown(h3, false)
    // Its first record request fails (a transient error); it answers again after that.
    let failed = false
    const transport = h.net.transport
    const real = transport.getRecord.bind(transport)
    const spy = vi.spyOn(transport, 'getRecord').mockImplementation(async (node, o, v, options) => {
      if (node === h3 && o === oid && !failed) {
        failed = true
        throw new NodeUnavailableError('transient')
      }
      return real(node, o, v, options)
    })
    try {
      expect(await e.getContent(oid, 1)).toMatchObject({ ok: true, version: 1 })
      expect(failed).toBe(true)
      await eventually(() => holds(h3, oid, 1))
    } finally {
      spy.mockRestore()
    }
  })

  it('a decided version whose other holder is down reads as QUORUM_NOT_REACHED, never NOT_FOUND', async () => {
    const { oid, h2, h3, e } = setup('holder-down')
    await h.setDown(h3, true)
    expect((await e.putContent(oid, 1, bytesOf('hd-1', 3000), meta(1))).ok).toBe(true)
    await h.setDown(h3, false)
    // h1 and h2 decided v1, h3 missed it; with h2 away, one home says v1 and one says nothing.
    await h.setDown(h2, true)
    try {
      expect(await e.getContent(oid, 1)).toMatchObject({ ok: false, code: 'QUORUM_NOT_REACHED' })
      // "latest" too: one home with v1 and one silent could be its majority.
      expect(await e.getContent(oid)).toMatchObject({ ok: false, code: 'QUORUM_NOT_REACHED' })
    } finally {
      await h.setDown(h2, false)
    }
    expect((await e.getContent(oid, 1)).ok).toBe(true)
  })

  it('a write whose shard staged on one replica of three offers no home its record', async () => {
    // Two replicas of shard 0 that are no home are down: the homes answer, the stage falls short.
    const p = findObject(
      h.nodeIds,
      'stage-short',
      (o) => o.replicas[0]!.filter((n) => !o.homes.includes(n)).length >= 2,
    )
    const down = p.replicas[0]!.filter((n) => !p.homes.includes(n)).slice(0, 2)
    for (const n of down) await h.setDown(n, true)
    try {
      const put = await h.engine(p.homes[0]!).putContent(p.oid, 1, bytesOf('stage-short', 3000), meta(1))
      expect(put.ok).toBe(false)
      for (const home of p.homes) expect(await holds(home, p.oid, 1)).toBe(false)
    } finally {
      for (const n of down) await h.setDown(n, false)
    }
  })

  it('a read takes the record once two homes agree, not waiting on a slow third, whose answer still drives repair', async () => {
    const { oid, h3, e } = setup('slow-home')
    await h.setDown(h3, true)
    expect((await e.putContent(oid, 1, bytesOf('slow-1', 2000), meta(1))).ok).toBe(true)
    await h.setDown(h3, false)
    let release!: () => void
    const released = new Promise<void>((r) => {
      release = r
    })
    const transport = h.net.transport
    const real = transport.getRecord.bind(transport)
    const spy = vi.spyOn(transport, 'getRecord').mockImplementation(async (node, o, v, options) => {
      if (node === h3 && o === oid) await released
      return real(node, o, v, options)
    })
    try {
      const read = e.getContent(oid, 1)
      const timer = new Promise((r) => setTimeout(() => r('still waiting'), 2_000))
      const got = await Promise.race([read, timer])
      expect(got).toMatchObject({ ok: true, version: 1 })
      expect(await holds(h3, oid, 1)).toBe(false)
    } finally {
      release()
    }
    await eventually(() => holds(h3, oid, 1))
    spy.mockRestore()
  })

  it('a write catches a lagging home up before deciding, and logs who lagged', async () => {
    const { oid, h3, e, coordinator } = setup('write-catch-up')
    await h.setDown(h3, true)
    const v1 = await e.putContent(oid, 1, bytesOf('wc-1', 3000), meta(1))
    expect(v1.ok).toBe(true)
    await h.setDown(h3, false)
    const v2 = await e.putContent(oid, 2, bytesOf('wc-2', 3000), meta(2))
    expect(v2.ok).toBe(true)
    // h3 accepted v1 (pushed from the majority) and then v2 itself.
    expect(await holds(h3, oid, 1)).toBe(true)
    expect(await holds(h3, oid, 2)).toBe(true)
    const events: StorageEvent[] = []
    for await (const ev of h.net.node(coordinator).log.iterate()) events.push(ev)
    const store = events.find((ev) => ev.object_id === oid && ev.event_type === 'STORE')!
    expect(store.details).toMatchObject({ lagging_homes: [h3] })
    const update = events.find((ev) => ev.object_id === oid && ev.event_type === 'UPDATE')!
    expect(update.details).toMatchObject({ lagging_homes: [] })
  })

  it('a repeat with another record is refused before any home can take it', async () => {
    const { oid, h1, h3, e } = setup('no-split')
    const content = bytesOf('split', 5000)
    await h.setDown(h3, true)
    expect((await e.putContent(oid, 1, content, meta(5))).ok).toBe(true)
    await h.setDown(h3, false)
    await h.setDown(h1, true)
    try {
      // The same bytes at another tick are another record: refused, and h3 (which missed v1) never
      // receives it, so the homes cannot end up split between two records.
      const retry = await e.putContent(oid, 1, content, meta(5), { timestampTick: 6 })
      expect(retry).toMatchObject({
        ok: false,
        error_code: 'SE_ERR_INVALID_VERSION',
        code: 'VERSION_CONFLICT',
      })
      const atH3 = await h.net.node(h3).service.getRecord(oid, 1)
      expect(atH3?.timestamp_tick ?? 5).toBe(5)
      // The identical repeat is idempotent.
      expect((await e.putContent(oid, 1, content, meta(5))).ok).toBe(true)
    } finally {
      await h.setDown(h1, false)
    }
    expect(await e.getContent(oid, 1)).toMatchObject({ ok: true })
  })

  it('an update repeated with another record is refused before a home that missed it can take it', async () => {
    // As above, past version 1: the preflight learns what the homes hold from their latest.
    const { oid, h1, h3, e } = setup('no-split-update')
    expect((await e.putContent(oid, 1, bytesOf('su-1', 3000), meta(1))).ok).toBe(true)
    const content = bytesOf('su-2', 3000)
    await h.setDown(h3, true)
    expect((await e.putContent(oid, 2, content, meta(5))).ok).toBe(true)
    await h.setDown(h3, false)
    await h.setDown(h1, true)
    try {
      const retry = await e.putContent(oid, 2, content, meta(5), { timestampTick: 6 })
      expect(retry).toMatchObject({ ok: false, code: 'VERSION_CONFLICT' })
      // h3 missed v2 and was free to take any record there: it must not have taken the refused one.
      const atH3 = await h.net.node(h3).service.getRecord(oid, 2)
      expect(atH3?.timestamp_tick ?? 5).toBe(5)
    } finally {
      await h.setDown(h1, false)
    }
    expect(await e.getContent(oid, 2)).toMatchObject({ ok: true, version: 2 })
  })
})

/** What a home answers a record request with, in the two tables below. */
type Answer = 'R' | 'S' | 'none' | 'error'

/** Every combination of three homes' answers. */
function answerPatterns(): Answer[][] {
  const kinds: Answer[] = ['R', 'S', 'none', 'error']
  return kinds.flatMap((a) => kinds.flatMap((b) => kinds.map((c) => [a, b, c])))
}

/** A getRecord that answers for each home as `answers` says: R, S, nothing, or a failure. */
function answering(homes: string[], answers: Answer[], R: VersionRecord, S: VersionRecord) {
  const byHome = new Map(homes.map((h, i) => [h, answers[i]!]))
  return async (node: string): Promise<VersionRecord | undefined> => {
    const a = byHome.get(node)
    if (a === 'error') throw new NodeUnavailableError('away')
    return a === 'R' ? R : a === 'S' ? S : undefined
  }
}

describe('decidedRecord', () => {
  // Stand-in records: decidedRecord only compares them by digest.
  const R = { object_id: 'r', version: 1 } as unknown as VersionRecord
  const S = { object_id: 's', version: 1 } as unknown as VersionRecord
  const homes = ['h1', 'h2', 'h3']

  /** Brute force: could any filling-in of the homes that did not answer give some record two votes? */
  function oracle(answers: Answer[]): 'R' | 'S' | null | undefined {
    for (const x of ['R', 'S'] as const) if (answers.filter((a) => a === x).length >= 2) return x
    const fills: Answer[][] = [[]]
    for (const a of answers) {
      const next: Answer[][] = []
      for (const f of fills)
        for (const v of a === 'error' ? (['R', 'S', 'T'] as Answer[]) : [a]) next.push([...f, v])
      fills.splice(0, fills.length, ...next)
    }
    const possible = fills.some((f) => ['R', 'S', 'T'].some((x) => f.filter((a) => a === x).length >= 2))
    return possible ? undefined : null
  }

  it.each(answerPatterns())('answers %s %s %s as the brute-force oracle does', async (...answers) => {
    const transport = { getRecord: answering(homes, answers, R, S) } as unknown as NodeTransport
    const got = await decidedRecord(
      { nodeId: 'x', transport, timeouts: { requestMs: 1000, streamIdleMs: 1000 } },
      homes,
      'ab'.repeat(32),
      1,
    )
    const want = oracle(answers)
    expect(got === R ? 'R' : got === S ? 'S' : got).toBe(want)
  })
})

describe('resolveRecord', () => {
  // Two records of one version with the same content and hash_commit, told apart only by their tick:
  // homes that hold one do not vote for the other.
  const homes = ['h1', 'h2', 'h3']
  const forged = (tick: number) =>
    forgeRecord({
      oid: 'cd'.repeat(32),
      version: 1,
      content: bytesOf('twins', 100),
      replicas: [0, 1, 2, 3].map(() => homes),
      homes,
      tick,
    }).record
  const R = forged(1)
  const S = forged(2)
  it.each(answerPatterns())(
    'given %s %s %s, returns only a record two homes hold, exactly',
    async (...answers) => {
      const transport = {
        getRecord: answering(homes, answers, R, S),
        commitVersion: async () => {
          throw new NodeUnavailableError('no repair here')
        },
      } as unknown as NodeTransport
      const ctx = { nodeId: 'x', transport, timeouts: { requestMs: 1000, streamIdleMs: 1000 } }
      const majority = (['R', 'S'] as const).find((x) => answers.filter((a) => a === x).length >= 2)
      for (const version of [1, 'latest'] as const) {
        const got = await resolveRecord(ctx, homes, R.object_id, version).then(
          (r) => (r.timestamp_tick === 1 ? 'R' : 'S'),
          () => undefined,
        )
        expect(got).toBe(majority)
      }
    },
  )
})
