import { describe, expect, it } from 'vitest'
import { SETTLE_MS, Settling } from '../../src/sdk/settling.js'

// A NODE_BUSY from the node shortly after this client cut a call of the same kind short is asked
// again (the node may still be ending the cut call); any other answer, or a NODE_BUSY outside that
// window, is the call's answer. Time here is a clock the attempts move, so the window is exact.

const busy = { ok: false, code: 'NODE_BUSY' } as const
const served = { ok: true } as const
type Answer = { ok: boolean; code?: string }

/** Attempts answering `answers` in turn (the last one repeated), each moving the clock by `stepMs`. */
function attempts(clock: { t: number }, stepMs: number, answers: Answer[]) {
  const seen: number[] = []
  const attempt = async (): Promise<Answer> => {
    clock.t += stepMs
    seen.push(clock.t)
    return answers[Math.min(seen.length, answers.length) - 1]!
  }
  return { attempt, seen }
}

const open = () => new AbortController().signal

describe('Settling (a node still ending the calls this client cut short)', () => {
  it('keeps the two-second window docs/sdk.md states', () => {
    expect(SETTLE_MS).toBe(2_000)
  })

  it('passes a NODE_BUSY on at once when no call of its kind was cut short', async () => {
    const clock = { t: 10_000 }
    const settling = new Settling(() => clock.t)
    settling.cut('listings')
    const { attempt, seen } = attempts(clock, 1, [busy, served])
    expect(await settling.answer('proofs', open(), attempt)).toEqual(busy)
    expect(seen).toHaveLength(1)
  })

  it('asks again after a NODE_BUSY within the window, until the node serves', async () => {
    const clock = { t: 10_000 }
    const settling = new Settling(() => clock.t)
    settling.cut('proofs')
    const { attempt, seen } = attempts(clock, 100, [busy, busy, served])
    expect(await settling.answer('proofs', open(), attempt)).toEqual(served)
    expect(seen).toEqual([10_100, 10_200, 10_300])
  })

  it('lets the NODE_BUSY stand once the window since the last cut has passed', async () => {
    const clock = { t: 0 }
    const settling = new Settling(() => clock.t)
    settling.cut('proofs')
    const { attempt, seen } = attempts(clock, 500, [busy])
    expect(await settling.answer('proofs', open(), attempt)).toEqual(busy)
    // Refusals at 500, 1000 and 1500 ms are inside the 2000 ms window; the one at 2000 is not.
    expect(seen).toEqual([500, 1000, 1500, 2000])
  })

  it('opens the window again from a later cut', async () => {
    const clock = { t: 0 }
    const settling = new Settling(() => clock.t)
    settling.cut('listings')
    clock.t = 1_900
    settling.cut('listings')
    expect(settling.unsettled('listings')).toBe(true)
    clock.t = 3_899
    expect(settling.unsettled('listings')).toBe(true)
    clock.t = 3_900
    expect(settling.unsettled('listings')).toBe(false)
  })

  it('never asks again after an answer other than NODE_BUSY', async () => {
    const clock = { t: 0 }
    const settling = new Settling(() => clock.t)
    settling.cut('proofs')
    const notFound = { ok: false, code: 'OBJECT_NOT_FOUND' }
    const { attempt, seen } = attempts(clock, 1, [notFound, served])
    expect(await settling.answer('proofs', open(), attempt)).toEqual(notFound)
    expect(seen).toHaveLength(1)
  })

  it("ends at the caller's abort: the attempt after an aborted pause is the last", async () => {
    const clock = { t: 0 }
    const settling = new Settling(() => clock.t)
    settling.cut('proofs')
    const caller = new AbortController()
    let calls = 0
    const outcome = settling.answer('proofs', caller.signal, async () => {
      calls++
      // The abort comes during the first pause; the node keeps refusing.
      if (calls === 1) setTimeout(() => caller.abort(new Error('gave up')), 1)
      return busy
    })
    expect(await outcome).toEqual(busy)
    expect(calls).toBe(2)
  })

  it('asks once only for a caller that had already left', async () => {
    const clock = { t: 0 }
    const settling = new Settling(() => clock.t)
    settling.cut('proofs')
    const { attempt, seen } = attempts(clock, 1, [busy])
    expect(await settling.answer('proofs', AbortSignal.abort(), attempt)).toEqual(busy)
    expect(seen).toHaveLength(1)
  })
})
