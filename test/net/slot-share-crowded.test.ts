import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { IDLE_SOURCES_KEPT, type ShareMember, SlotShare } from '../../src/net/slot-share.js'

/**
 * The share keeps aside the addresses holding two slots or more (the only ones a newcomer can take
 * from). That set must shrink as they let slots go: otherwise it grows with every address that
 * ever held two, for the node's whole life, though no yield decision shows it.
 */

const member = (): ShareMember => ({ moved: () => 0, waited: () => 0, waitingSince: () => undefined })
const share = () => new SlotShare<ShareMember>({ yieldAfterMs: 1_000, minBytesPerSecond: 65_536 }, () => 0)

describe('SlotShare: the addresses holding two slots or more', () => {
  it('are exactly those holding two now, over any order of joins and leaves (a plain count as oracle)', () => {
    const op = fc.record({ join: fc.boolean(), key: fc.constantFrom('a', 'b', 'c', 'd'), pick: fc.nat() })
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const s = share()
        const held = new Map<string, ShareMember[]>()
        for (const { join, key, pick } of ops) {
          const mine = held.get(key) ?? []
          if (join) {
            const m = member()
            mine.push(m)
            s.join(key, m)
          } else if (mine.length > 0) {
            const [m] = mine.splice(pick % mine.length, 1)
            s.leave(key, m!)
          }
          held.set(key, mine)
          const crowded = [...held.values()].filter((ms) => ms.length >= 2).length
          expect(s.crowdedCount()).toBe(crowded)
        }
      }),
      { seed: 0xc40, numRuns: 300 },
    )
  })

  it('stay empty after more addresses than it keeps histories for each held two slots and let them go', () => {
    const s = share()
    for (let i = 0; i < IDLE_SOURCES_KEPT + 100; i++) {
      const key = `10.0.${i >> 8}.${i & 255}`
      const [x, y] = [member(), member()]
      s.join(key, x)
      s.join(key, y)
      expect(s.crowdedCount()).toBe(1)
      s.leave(key, x)
      s.leave(key, y)
    }
    expect(s.crowdedCount()).toBe(0)
  })
})
