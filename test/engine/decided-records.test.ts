import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { EligibleSet } from '../../src/core/placement.js'
import type { VersionRecord } from '../../src/core/record.js'
import { DecidedRecords } from '../../src/engine/decided-records.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

const fake = (oid: string, version: number) => ({ object_id: oid, version }) as unknown as VersionRecord

describe('DecidedRecords', () => {
  it('keeps the most recently used records up to its capacity (property against a list model)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 }),
        fc.array(
          fc.record({
            get: fc.boolean(),
            epoch: fc.integer({ min: 1, max: 2 }),
            oid: fc.constantFrom('a', 'b', 'c', 'd'),
            version: fc.integer({ min: 1, max: 3 }),
          }),
          { maxLength: 60 },
        ),
        (capacity, ops) => {
          const kept = new DecidedRecords(capacity)
          // Most recently used last; what a key was last remembered as.
          let model: Array<{ key: string; record: VersionRecord }> = []
          for (const o of ops) {
            const key = `${o.epoch}|${o.oid}|${o.version}`
            const at = model.findIndex((m) => m.key === key)
            if (o.get) {
              expect(kept.get(o.epoch, o.oid, o.version)).toBe(at < 0 ? undefined : model[at]!.record)
              if (at >= 0) model = [...model.filter((_, i) => i !== at), model[at]!]
            } else {
              const record = fake(o.oid, o.version)
              kept.remember(o.epoch, record)
              if (capacity > 0)
                model = [...model.filter((m) => m.key !== key), { key, record }].slice(-capacity)
            }
            expect(kept.size).toBe(model.length)
          }
        },
      ),
      { seed: 0xdec1, numRuns: 300 },
    )
  })
})

describe('reads of a version this node resolved before', () => {
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

  it('ask the homes once; a read of the latest asks them every time', async () => {
    const { oid, reader } = setup('once')
    const content = bytesOf('once', 3000)
    expect((await h.engine(reader).putContent(oid, 1, content, meta(1))).ok).toBe(true)
    const asked = vi.spyOn(h.net.transport, 'getRecord')
    try {
      const lookups = () => asked.mock.calls.filter(([, o]) => o === oid).length
      for (let i = 0; i < 3; i++) {
        const got = await h.engine(reader).getContent(oid, 1)
        expect(got.ok && Buffer.from(got.content_bytes).equals(content)).toBe(true)
      }
      const afterVersionReads = lookups()
      expect(afterVersionReads).toBeGreaterThanOrEqual(2) // the first read asked a majority
      expect(afterVersionReads).toBeLessThanOrEqual(3)
      await h.engine(reader).getContent(oid)
      await h.engine(reader).getContent(oid)
      expect(lookups()).toBeGreaterThanOrEqual(afterVersionReads + 4)
    } finally {
      asked.mockRestore()
    }
  })

  it('serve a version it resolved while two of its three homes are down; one it never resolved is QUORUM_NOT_REACHED', async () => {
    const { oid, homes, reader } = setup('homes-down')
    const content = bytesOf('homes-down', 3000)
    expect((await h.engine(reader).putContent(oid, 1, content, meta(2))).ok).toBe(true)
    expect((await h.engine(reader).getContent(oid, 1)).ok).toBe(true)
    // Written through this node too, but never read here: a write does not resolve a record.
    expect((await h.engine(reader).putContent(oid, 2, bytesOf('homes-down-2', 3000), meta(3))).ok).toBe(true)
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
})
