import { getEventListeners } from 'node:events'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { NodeBusyError } from '../../src/net/errors.js'
import { DEFAULT_LIMITS, perAddressShare } from '../../src/net/protocols.js'
import { CallSlots, DEFAULT_CALL_LIMITS, linkedSignal, resolveCallLimits } from '../../src/sdk/call-slots.js'
import { DEFAULT_QUEUE_MS } from '../../src/sdk/client.js'

describe('CallSlots', () => {
  it('never runs more than its size, and grants waiting calls in the order they asked', async () => {
    // Any interleaving of asks and releases: the running count stays within the size, and slots go
    // to waiters first come, first served.
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }),
        async (size, steps) => {
          const slots = new CallSlots('writes', size, 60_000)
          const signal = new AbortController().signal
          const held: Array<() => void> = []
          const granted: number[] = []
          let asked = 0
          for (const ask of steps) {
            if (ask || held.length === 0) {
              const n = asked++
              void slots.acquire(signal).then((release) => {
                granted.push(n)
                held.push(release)
              })
            } else {
              held.shift()!()
            }
            await Promise.resolve()
            await Promise.resolve()
            expect(slots.load.running).toBeLessThanOrEqual(size)
            expect(slots.load.running).toBe(held.length)
          }
          expect(granted).toEqual([...granted].sort((a, b) => a - b))
          expect(granted.length + slots.load.waiting).toBe(asked)
          for (const release of held) release()
        },
      ),
      { numRuns: 200 },
    )
  })

  it('answers NODE_BUSY after its wait, and the late slot goes to nobody', async () => {
    const slots = new CallSlots('reads', 1, 30)
    const signal = new AbortController().signal
    const first = await slots.acquire(signal)
    const err = await slots.acquire(signal).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NodeBusyError)
    expect((err as Error).message).toContain('1 reads')
    expect((err as Error).message).toContain('maxConcurrent.reads')
    expect(slots.load).toEqual({ running: 1, waiting: 0 })
    first()
    first() // a second release frees nothing more
    expect(slots.load).toEqual({ running: 0, waiting: 0 })
  })

  it("gives up a wait at the caller's abort, with its reason, and holds no listener after", async () => {
    const slots = new CallSlots('listings', 1, 60_000)
    const release = await slots.acquire(new AbortController().signal)
    const caller = new AbortController()
    const waiting = slots.acquire(caller.signal)
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(1)
    caller.abort(new Error('given up'))
    await expect(waiting).rejects.toThrow('given up')
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0)
    expect(slots.load).toEqual({ running: 1, waiting: 0 })
    release()
    expect(slots.load).toEqual({ running: 0, waiting: 0 })
    // An aborted signal is refused at once, without taking a slot.
    await expect(slots.acquire(caller.signal)).rejects.toThrow('given up')
    expect(slots.load.running).toBe(0)
  })

  it('refuses every waiting call when told to (the client closing)', async () => {
    const slots = new CallSlots('writes', 1, 60_000)
    const signal = new AbortController().signal
    const release = await slots.acquire(signal)
    const waits = [slots.acquire(signal), slots.acquire(signal)]
    slots.refuseWaiting(new Error('closed'))
    for (const w of waits) await expect(w).rejects.toThrow('closed')
    release()
    expect(slots.load).toEqual({ running: 0, waiting: 0 })
  })
})

describe('linkedSignal', () => {
  it('aborts with the reason of whichever source aborts first, then lets go of the others', () => {
    const a = new AbortController()
    const b = new AbortController()
    const linked = linkedSignal([a.signal, undefined, b.signal])
    expect(getEventListeners(a.signal, 'abort')).toHaveLength(1)
    b.abort('b first')
    expect(linked.signal.aborted).toBe(true)
    expect(linked.signal.reason).toBe('b first')
    expect(getEventListeners(a.signal, 'abort')).toHaveLength(0)
    a.abort('a later')
    expect(linked.signal.reason).toBe('b first')
  })

  it('detaches from one source and follows the others', () => {
    const a = new AbortController()
    const b = new AbortController()
    const linked = linkedSignal([a.signal, b.signal])
    linked.detach(a.signal)
    expect(getEventListeners(a.signal, 'abort')).toHaveLength(0)
    a.abort('a')
    expect(linked.signal.aborted).toBe(false)
    b.abort('b')
    expect(linked.signal.reason).toBe('b')
  })

  it('is aborted at once by a source aborted before, and dispose detaches from live ones', () => {
    const done = new AbortController()
    done.abort('already')
    expect(linkedSignal([done.signal]).signal.reason).toBe('already')
    const live = new AbortController()
    const linked = linkedSignal([live.signal])
    linked.dispose()
    expect(getEventListeners(live.signal, 'abort')).toHaveLength(0)
    live.abort()
    expect(linked.signal.aborted).toBe(false)
  })
})

describe('resolveCallLimits', () => {
  it('fills defaults and takes whole numbers in 1..1024', () => {
    expect(resolveCallLimits(undefined)).toEqual(DEFAULT_CALL_LIMITS)
    expect(resolveCallLimits({ reads: 1, listings: 1024 })).toEqual({
      ...DEFAULT_CALL_LIMITS,
      reads: 1,
      listings: 1024,
    })
  })

  it("keeps a client's default calls of each kind within a node's default caps, so a burst waits rather than meets NODE_BUSY", () => {
    expect(DEFAULT_CALL_LIMITS.writes).toBeLessThanOrEqual(DEFAULT_LIMITS.maxConcurrentWrites)
    expect(DEFAULT_CALL_LIMITS.reads).toBeLessThanOrEqual(DEFAULT_LIMITS.maxConcurrentReads)
    // Proofs and listings: what one address may hold of them.
    expect(DEFAULT_CALL_LIMITS.proofs).toBeLessThanOrEqual(
      perAddressShare(DEFAULT_LIMITS.maxConcurrentProofs),
    )
    expect(DEFAULT_CALL_LIMITS.listings).toBeLessThanOrEqual(
      perAddressShare(DEFAULT_LIMITS.maxConcurrentListings),
    )
  })

  it.each([
    ['null', null],
    ['an array', [1]],
    ['a number', 4],
    ['zero', { writes: 0 }],
    ['a fraction', { reads: 1.5 }],
    ['too many', { proofs: 1025 }],
    ['a string', { writes: '8' }],
    ['an unknown kind', { deletes: 2 }],
  ])('refuses %s with INVALID_INPUT', (_what, value) => {
    expect(() => resolveCallLimits(value)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }))
  })
})

describe('DEFAULT_QUEUE_MS', () => {
  it("outlasts a node's default grace for reads left unconsumed, so a waiting call gets their slots", () => {
    expect(DEFAULT_QUEUE_MS).toBeGreaterThan(DEFAULT_LIMITS.readMinDeadlineMs)
  })
})
