import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { canonicalBytes } from '../../src/core/canonical.js'
import { objectId } from '../../src/core/ids.js'
import { EligibleSet } from '../../src/core/placement.js'
import type { VersionRecord } from '../../src/core/record.js'
import { DeterministicTime } from '../../src/core/time.js'
import { DecidedRecords } from '../../src/engine/decided-records.js'
import { StorageEngine } from '../../src/engine/engine.js'
import { findObject } from './consistency-claims-helpers.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

/** A record-shaped value of about `pad` bytes. */
const fake = (oid: string, version: number, pad = 0) =>
  ({ object_id: oid, version, pad: 'x'.repeat(pad) }) as unknown as VersionRecord

describe('DecidedRecords', () => {
  it('keeps the most recently used records within its count and byte bounds (property against a list model)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 60, max: 400 }),
        fc.array(
          fc.record({
            get: fc.boolean(),
            epoch: fc.integer({ min: 1, max: 2 }),
            oid: fc.constantFrom('a', 'b'),
            version: fc.integer({ min: 1, max: 2 }),
            pad: fc.integer({ min: 0, max: 150 }),
          }),
          { minLength: 20, maxLength: 60 },
        ),
        (capacity, budget, ops) => {
          const kept = new DecidedRecords(capacity, budget)
          // Least recently used first; what each key was last remembered as, and its size.
          let model: Array<{ key: string; record: VersionRecord; bytes: number }> = []
          const total = () => model.reduce((n, m) => n + m.bytes, 0)
          for (const o of ops) {
            const key = `${o.epoch}|${o.oid}|${o.version}`
            const at = model.findIndex((m) => m.key === key)
            if (o.get) {
              const got = kept.get(o.epoch, o.oid, o.version)
              if (at < 0) expect(got).toBeUndefined()
              else {
                expect(got).toEqual(model[at]!.record)
                expect(got).not.toBe(model[at]!.record)
                model = [...model.filter((_, i) => i !== at), model[at]!]
              }
            } else {
              const record = fake(o.oid, o.version, o.pad)
              const bytes = canonicalBytes(record).length
              kept.remember(o.epoch, record)
              if (bytes <= budget) {
                model = [...model.filter((m) => m.key !== key), { key, record, bytes }]
                while (model.length > capacity || total() > budget) model = model.slice(1)
              }
            }
            expect(kept.size).toBe(model.length)
            expect(kept.keptBytes).toBe(total())
          }
        },
      ),
      { seed: 0xdec1, numRuns: 300 },
    )
  })

  it('hands out copies: changing what one caller got does not change what the next gets', () => {
    const kept = new DecidedRecords()
    const record = { object_id: 'a', version: 1, metadata: { tags: ['t'] } } as unknown as VersionRecord
    kept.remember(1, record)
    ;(record.metadata.tags as string[]).push('changed by the first caller')
    const got = kept.get(1, 'a', 1)!
    ;(got.metadata.tags as string[]).push('changed by the second')
    expect(kept.get(1, 'a', 1)!.metadata.tags).toEqual(['t'])
  })
})

describe('reads of a version this node knows every home to hold', () => {
  let h: Awaited<ReturnType<typeof inProcessHarness>>
  beforeAll(async () => {
    h = await inProcessHarness(5)
  })
  afterAll(async () => {
    await h?.close()
  })

  const setup = (name: string) => {
    const oid = objectId('decided', name)
    const homes = new EligibleSet(h.nodeIds).catalogueHomes(oid, 3) as [string, string, string]
    const reader = h.nodeIds.find((n) => !homes.includes(n))!
    return { oid, homes, reader }
  }
  /** Lets the slower homes' answers of a read come in (a record is kept once every home answered). */
  const settle = () => new Promise((r) => setTimeout(r, 50))
  /** Counts the record lookups of `oid` while `body` runs. */
  const countingLookups = async (oid: string, body: (lookups: () => number) => Promise<void>) => {
    const asked = vi.spyOn(h.net.transport, 'getRecord')
    try {
      await body(() => asked.mock.calls.filter(([, o]) => o === oid).length)
    } finally {
      asked.mockRestore()
    }
  }

  it('ask the homes once; a read of the latest asks them every time', async () => {
    const { oid, homes } = setup('once')
    // A home reads it, written through another node: the write tells it nothing of the other homes.
    const reader = homes[0]
    const writer = h.nodeIds.find((n) => n !== reader)!
    const content = bytesOf('once', 3000)
    expect((await h.engine(writer).putContent(oid, 1, content, meta(1))).ok).toBe(true)
    await countingLookups(oid, async (lookups) => {
      for (let i = 0; i < 3; i++) {
        const got = await h.engine(reader).getContent(oid, 1)
        expect(got.ok && Buffer.from(got.content_bytes).equals(content)).toBe(true)
        await settle()
      }
      expect(lookups()).toBe(3) // the first read asked the three homes
      await h.engine(reader).getContent(oid)
      await h.engine(reader).getContent(oid)
      expect(lookups()).toBeGreaterThanOrEqual(3 + 4)
    })
  })

  it('serve a version it resolved while two of its three homes are down; one a home missed is QUORUM_NOT_REACHED', async () => {
    const { oid, homes, reader } = setup('homes-down')
    const content = bytesOf('homes-down', 3000)
    expect((await h.engine(reader).putContent(oid, 1, content, meta(2))).ok).toBe(true)
    expect((await h.engine(reader).getContent(oid, 1)).ok).toBe(true)
    await settle()
    // Written through this node too, but while a home was down: no node knows every home holds it.
    await h.setDown(homes[2], true)
    expect((await h.engine(reader).putContent(oid, 2, bytesOf('homes-down-2', 3000), meta(3))).ok).toBe(true)
    await h.setDown(homes[2], false)
    const down = homes.slice(0, 2)
    for (const n of down) await h.setDown(n, true)
    try {
      const got = await h.engine(reader).getContent(oid, 1)
      expect(got.ok && Buffer.from(got.content_bytes).equals(content)).toBe(true)
      expect(await h.engine(reader).getContent(oid, 2)).toMatchObject({
        ok: false,
        code: 'QUORUM_NOT_REACHED',
      })
    } finally {
      for (const n of down) await h.setDown(n, false)
    }
  })

  it('read a version written through this node without asking the homes, once every home took it', async () => {
    // A home: its own commit tells it nothing of the other homes, the write's answers do.
    const { oid, homes } = setup('written-here')
    const reader = homes[0]
    const content = bytesOf('written-here', 3000)
    expect((await h.engine(reader).putContent(oid, 1, content, meta(7))).ok).toBe(true)
    await countingLookups(oid, async (lookups) => {
      const got = await h.engine(reader).getContent(oid, 1)
      expect(got.ok && Buffer.from(got.content_bytes).equals(content)).toBe(true)
      expect(lookups()).toBe(0)
    })
  })

  it("read a version without asking the homes on a holder that is no home, once its commit carried every home's acceptance", async () => {
    // Written through a home; read through a holder that is none (it takes the commit of step 3).
    const p = findObject(h.nodeIds, 'decided-holder', (o) =>
      o.replicas.some((r) => r.some((n) => !o.homes.includes(n))),
    )
    const holder = p.replicas.flat().find((n) => !p.homes.includes(n))!
    const content = bytesOf('decided-holder', 3000)
    expect((await h.engine(p.homes[0]!).putContent(p.oid, 1, content, meta(8))).ok).toBe(true)
    await countingLookups(p.oid, async (lookups) => {
      const got = await h.engine(holder).getContent(p.oid, 1)
      expect(got.ok && Buffer.from(got.content_bytes).equals(content)).toBe(true)
      expect(lookups()).toBe(0)
    })
    // A majority of acceptances decides it there too, but a home that missed it must still be
    // caught up by the reads, so those keep asking.
    await h.setDown(p.homes[2]!, true)
    expect((await h.engine(p.homes[0]!).putContent(p.oid, 2, content, meta(9))).ok).toBe(true)
    await h.setDown(p.homes[2]!, false)
    await countingLookups(p.oid, async (lookups) => {
      expect((await h.engine(holder).getContent(p.oid, 2)).ok).toBe(true)
      expect(lookups()).toBeGreaterThanOrEqual(3) // the read's, then its repair's
      await vi.waitFor(async () =>
        expect(await h.net.node(p.homes[2]!).service.getRecord(p.oid, 2)).toBeDefined(),
      )
    })
  })

  it('keep asking, and so repairing, while a home lacks the record; keep it once every home holds it', async () => {
    const { oid, homes, reader } = setup('lagging')
    const lagging = homes[2]
    await h.setDown(lagging, true)
    expect((await h.engine(reader).putContent(oid, 1, bytesOf('lagging', 3000), meta(4))).ok).toBe(true)
    await h.setDown(lagging, false)
    const asked = vi.spyOn(h.net.transport, 'getRecord')
    try {
      const lookups = () => asked.mock.calls.filter(([, o]) => o === oid).length
      expect((await h.engine(reader).getContent(oid, 1)).ok).toBe(true)
      // The lagging home is caught up by that read's repair.
      await vi.waitFor(async () => expect(await h.net.node(lagging).service.getRecord(oid, 1)).toBeDefined())
      const first = lookups()
      expect((await h.engine(reader).getContent(oid, 1)).ok).toBe(true) // asks again: all agree now
      await settle()
      const second = lookups()
      expect(second).toBeGreaterThan(first)
      expect((await h.engine(reader).getContent(oid, 1)).ok).toBe(true)
      expect(lookups()).toBe(second)
    } finally {
      asked.mockRestore()
    }
  })

  it('keep nothing from a read of the latest that a home answered with an older version', async () => {
    const { oid, homes, reader } = setup('lagging-latest')
    const lagging = homes[2]
    await h.setDown(lagging, true)
    expect((await h.engine(reader).putContent(oid, 1, bytesOf('lagging-latest', 3000), meta(4))).ok).toBe(
      true,
    )
    await h.setDown(lagging, false)
    // Every home answers the latest, two with v1 and the lagging one with nothing: not unanimous.
    expect(await h.engine(reader).getContent(oid)).toMatchObject({ ok: true, version: 1 })
    await settle()
    await countingLookups(oid, async (lookups) => {
      expect((await h.engine(reader).getContent(oid, 1)).ok).toBe(true)
      expect(lookups()).toBeGreaterThan(0)
    })
  })

  it('serve the record as decided whatever a caller did to the metadata it was given', async () => {
    const { oid, reader } = setup('changed-by-caller')
    expect((await h.engine(reader).putContent(oid, 1, bytesOf('changed', 3000), meta(5))).ok).toBe(true)
    const first = await h.engine(reader).getContent(oid, 1)
    if (!first.ok) throw new Error(JSON.stringify(first))
    await settle()
    ;(first.metadata.tags as string[]).push('not written')
    const again = await h.engine(reader).getContent(oid, 1)
    if (!again.ok) throw new Error(JSON.stringify(again))
    ;(again.metadata.tags as string[]).push('not written either')
    expect(await h.engine(reader).getContent(oid, 1)).toMatchObject({ ok: true })
  })

  it("are either shared with the node (its commits fill them) or the engine's own, sized by decidedRecordsKept, not both", () => {
    const id = h.nodeIds[0]!
    const components = {
      nodeId: id,
      transport: h.net.transport,
      membership: h.net.membership,
      log: h.net.node(id).log,
      time: new DeterministicTime(),
      decided: h.net.node(id).decided,
    }
    expect(() => new StorageEngine(components, { decidedRecordsKept: 16 })).toThrow(TypeError)
    expect(() => new StorageEngine(components)).not.toThrow()
  })

  it('fail a call given up before its lookup, as asking the homes would, even for a kept record', async () => {
    const { oid, reader } = setup('given-up')
    expect((await h.engine(reader).putContent(oid, 1, bytesOf('given-up', 3000), meta(6))).ok).toBe(true)
    expect((await h.engine(reader).getContent(oid, 1)).ok).toBe(true)
    await settle()
    const gone = new AbortController()
    gone.abort(new Error('the client went away'))
    const opened = await h.engine(reader).readContent(oid, 1, { signal: gone.signal })
    expect(opened).toMatchObject({ ok: false })
  })
})
