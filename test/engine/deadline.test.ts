import { getEventListeners } from 'node:events'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { deadline, underDeadline } from '../../src/engine/deadline.js'

describe('deadline', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('aborts with a TimeoutError once the time is up, as AbortSignal.timeout does', () => {
    const parent = new AbortController()
    const bounded = deadline(parent.signal, 100)
    vi.advanceTimersByTime(99)
    expect(bounded.signal.aborted).toBe(false)
    vi.advanceTimersByTime(1)
    expect(bounded.signal.aborted).toBe(true)
    expect((bounded.signal.reason as Error).name).toBe('TimeoutError')
    // It let go of the parent when it fired.
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(0)
  })

  it("aborts with the parent's own reason, at once if the parent already is", () => {
    const parent = new AbortController()
    const bounded = deadline(parent.signal, 100)
    const reason = new Error('caller gave up')
    parent.abort(reason)
    expect(bounded.signal.reason).toBe(reason)
    const late = deadline(parent.signal, 100)
    expect(late.signal.aborted).toBe(true)
    expect(late.signal.reason).toBe(reason)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('holds nothing once cleared: no listener on the parent, no timer, and it never aborts', () => {
    const parent = new AbortController()
    const bounded = deadline(parent.signal, 100)
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(1)
    expect(vi.getTimerCount()).toBe(1)
    bounded.clear()
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(0)
    expect(vi.getTimerCount()).toBe(0)
    parent.abort(new Error('later'))
    vi.advanceTimersByTime(1000)
    expect(bounded.signal.aborted).toBe(false)
  })

  it('works without a parent', () => {
    const bounded = deadline(undefined, 10)
    vi.advanceTimersByTime(10)
    expect((bounded.signal.reason as Error).name).toBe('TimeoutError')
  })

  it('underDeadline clears however the work ends', async () => {
    const parent = new AbortController()
    await expect(underDeadline(parent.signal, 100, async () => 7)).resolves.toBe(7)
    await expect(
      underDeadline(parent.signal, 100, async () => {
        throw new Error('failed')
      }),
    ).rejects.toThrow('failed')
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(0)
    expect(vi.getTimerCount()).toBe(0)
  })
})
