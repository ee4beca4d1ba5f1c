import { describe, expect, it } from 'vitest'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import { DEFAULT_CALL_LIMITS } from '../../src/sdk/call-slots.js'
import { ClientCalls } from '../../src/sdk/client-calls.js'
import { SETTLE_MS } from '../../src/sdk/settling.js'

// Which of a client's calls open the window in which a NODE_BUSY is asked again (settling.ts), and
// what a call asked again holds meanwhile, through ClientCalls as client-calls/queries use it. The
// window's clock is one the test moves; the pauses (10 ms at most here) run for real.

const busy = { ok: false, code: 'NODE_BUSY', error_detail: 'busy', storage_event_id: null } as const
const served = { ok: true } as const
type Answer = { ok: boolean; code?: string }

/** A proof through `calls`: its slot, its attempts (`ask`), its failure as the caller sees it. */
async function proof(calls: ClientCalls, ask: () => Promise<Answer>, signal?: AbortSignal): Promise<Answer> {
  const begun = await calls.begin('proofs', { signal })
  if ('answer' in begun) return begun.answer
  try {
    return await calls.asked('proofs', begun.call, ask)
  } catch (err) {
    return calls.failureOf(err, null)
  } finally {
    begun.call.end()
  }
}

/** The node resetting the stream under the call (what a call cut short throws). */
const reset = async (): Promise<Answer> => {
  throw new NodeUnavailableError('the stream was reset')
}

describe('ClientCalls: the calls that open the NODE_BUSY window', () => {
  it('a caller who leaves during a pause opens no window: that last attempt never reached the node', async () => {
    const clock = { t: 0 }
    const calls = new ClientCalls(DEFAULT_CALL_LIMITS, 1_000, () => clock.t)
    // A proof cut short at 0 ms opens the window until 2000 ms.
    expect((await proof(calls, reset)).ok).toBe(false)

    // At 1000 ms a proof is refused, and its caller leaves during the pause before asking again.
    clock.t = 1_000
    const caller = new AbortController()
    let attempts = 0
    const left = await proof(
      calls,
      async () => {
        attempts++
        if (caller.signal.aborted) throw new NodeUnavailableError('the call was aborted')
        setTimeout(() => caller.abort(new Error('the caller gave up')), 0)
        return busy
      },
      caller.signal,
    )
    expect(attempts).toBe(2)
    expect(left).toMatchObject({ ok: false, code: 'NODE_UNAVAILABLE' })

    // Past the window of the one call that was cut: a refusal stands.
    clock.t = SETTLE_MS + 500
    let asked = 0
    const later = await proof(calls, async () => (++asked === 1 ? busy : served))
    expect(later).toBe(busy)
    expect(asked).toBe(1)
  })

  it('a call that ended with any answer opens no window', async () => {
    const clock = { t: 0 }
    const calls = new ClientCalls(DEFAULT_CALL_LIMITS, 1_000, () => clock.t)
    const notFound = { ok: false, code: 'OBJECT_NOT_FOUND' }
    expect(await proof(calls, async () => served)).toBe(served)
    expect(await proof(calls, async () => notFound)).toBe(notFound)
    clock.t = 1
    let asked = 0
    expect(await proof(calls, async () => (++asked === 1 ? busy : served))).toBe(busy)
    expect(asked).toBe(1)
  })

  it('the window is per kind: a proof cut short does not have a listing asked again', async () => {
    const clock = { t: 0 }
    const calls = new ClientCalls(DEFAULT_CALL_LIMITS, 1_000, () => clock.t)
    await proof(calls, reset)
    const begun = await calls.begin('listings', undefined)
    if ('answer' in begun) throw new Error('no slot')
    let asked = 0
    const listing = await calls.asked('listings', begun.call, async () => (++asked === 1 ? busy : served))
    begun.call.end()
    expect(listing).toBe(busy)
    expect(asked).toBe(1)
  })

  it('a call asked again keeps its one slot through its pauses, and takes no other', async () => {
    const clock = { t: 0 }
    const calls = new ClientCalls({ ...DEFAULT_CALL_LIMITS, proofs: 1 }, 1_000, () => clock.t)
    await proof(calls, reset)
    const seen: Array<{ running: number; waiting: number }> = []
    let asked = 0
    const first = proof(calls, async () => {
      seen.push(calls.load.proofs)
      return ++asked < 4 ? busy : served
    })
    // A second proof waits for the one slot the first holds through all its attempts and pauses.
    let secondStarted = false
    const second = proof(calls, async () => {
      secondStarted = true
      expect(asked).toBe(4)
      return served
    })
    expect(await first).toBe(served)
    expect(seen).toEqual(Array(4).fill({ running: 1, waiting: 1 }))
    expect(await second).toBe(served)
    expect(secondStarted).toBe(true)
  })

  it('a client closed during a pause ends the call at once with CLIENT_CLOSED', async () => {
    const clock = { t: 0 }
    const calls = new ClientCalls(DEFAULT_CALL_LIMITS, 1_000, () => clock.t)
    await proof(calls, reset)
    let attempts = 0
    const answer = await proof(calls, async () => {
      // What the wire client does with a call whose signal has aborted: it fails before dialling.
      if (++attempts > 1) throw new NodeUnavailableError('the call was aborted')
      setTimeout(() => calls.close(), 0)
      return busy
    })
    expect(attempts).toBe(2)
    expect(answer).toMatchObject({ ok: false, code: 'CLIENT_CLOSED', storage_event_id: null })
  })
})
