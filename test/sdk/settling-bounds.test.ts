import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { FIRST_PAUSE_MS, MAX_PAUSE_MS, SETTLE_MS, Settling } from '../../src/sdk/settling.js'

// The bounds docs/sdk.md "Many calls at once" puts on asking again after NODE_BUSY: one call asks
// again for at most 2 s, its pauses start at 10 ms and double up to 200 ms, and calls refused
// together do not all ask again at the same moments. Timers and Date are fake: the pauses run at
// once and Date.now() is the time they took.

const busy = { ok: false, code: 'NODE_BUSY' } as const
const served = { ok: true } as const
type Answer = { ok: boolean; code?: string; error_detail?: string; storage_event_id?: string | null }
const open = () => new AbortController().signal

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

/** Runs `answer` to its end under the fake timers. */
async function settle<T>(answer: Promise<T>): Promise<T> {
  await vi.runAllTimersAsync()
  return answer
}

describe('Settling: how long and how often one call asks again', () => {
  it('asks again for at most 2 s from its first refusal, though other calls keep being cut meanwhile', async () => {
    const settling = new Settling(() => Date.now())
    settling.cut('proofs')
    const start = Date.now()
    const asked: number[] = []
    const answer = settling.answer('proofs', open(), async () => {
      asked.push(Date.now() - start)
      // Another call of this client cut short (its caller's timeout, or a node answering it out
      // of the rules) while this one is refused: the window opens again each time.
      settling.cut('proofs')
      // A node that refuses this call for as long as it keeps being asked, then serves it.
      return asked.length > 100 ? served : busy
    })
    expect(await settle(answer)).toBe(busy)
    expect(asked[0]).toBe(0)
    // The last attempt is one pause (at most MAX_PAUSE_MS) after the 2 s, never later.
    expect(asked.at(-1)!).toBeLessThan(SETTLE_MS + MAX_PAUSE_MS)
    expect(asked.at(-2)!).toBeLessThan(SETTLE_MS)
  })

  it('does not have calls refused together ask again at the same moments', async () => {
    // Draws spread over [0, 1): what Math.random gives calls, made repeatable.
    let draws = 0
    const settling = new Settling(
      () => Date.now(),
      () => (draws++ % 8) / 8,
    )
    settling.cut('proofs')
    const start = Date.now()
    const secondAsk: number[] = []
    const answers = Array.from({ length: 8 }, () => {
      let asked = 0
      return settling.answer('proofs', open(), async () => {
        asked++
        if (asked === 2) secondAsk.push(Date.now() - start)
        return asked < 3 ? busy : served
      })
    })
    await vi.runAllTimersAsync()
    expect(await Promise.all(answers)).toEqual(Array(8).fill(served))
    expect(secondAsk).toHaveLength(8)
    expect(new Set(secondAsk).size).toBeGreaterThan(1)
  })

  it.each([
    ['lowest', () => 0],
    ['highest', () => 0.999_999],
  ])('pauses between half and the whole of 10 ms, doubling to 200 ms (%s draw)', async (_name, random) => {
    const settling = new Settling(() => Date.now(), random)
    settling.cut('listings')
    const start = Date.now()
    const asked: number[] = []
    const answer = settling.answer('listings', open(), async () => {
      asked.push(Date.now() - start)
      return asked.length < 8 ? busy : served
    })
    expect(await settle(answer)).toBe(served)
    const pauses = asked.slice(1).map((t, i) => t - asked[i]!)
    const whole = [10, 20, 40, 80, 160, 200, 200]
    expect(FIRST_PAUSE_MS).toBe(whole[0])
    expect(MAX_PAUSE_MS).toBe(whole.at(-1))
    pauses.forEach((pause, i) => {
      // Fake timers count whole milliseconds, so a pause may fall one short of its draw.
      expect(pause).toBeGreaterThanOrEqual(Math.floor(whole[i]! / 2))
      expect(pause).toBeLessThanOrEqual(whole[i]!)
    })
  })

  it("answers with the last attempt's answer: the node's own detail and event id", async () => {
    const settling = new Settling(() => Date.now())
    settling.cut('proofs')
    const refusals: Answer[] = Array.from({ length: 40 }, (_, i) => ({
      ok: false,
      code: 'NODE_BUSY',
      error_detail: `refusal ${i}`,
      storage_event_id: null,
    }))
    let asked = 0
    const answer = settling.answer('proofs', open(), async () => refusals[asked++]!)
    const last = await settle(answer)
    expect(asked).toBeGreaterThan(1)
    expect(last).toBe(refusals[asked - 1])
    expect(last.error_detail).toBe(`refusal ${asked - 1}`)
  })
})
