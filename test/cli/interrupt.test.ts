import { describe, expect, it } from 'vitest'
import { INTERRUPT_SIGNALS, interruptedStatus, watchInterrupts } from '../../src/cli/interrupt.js'

/** The handlers watchInterrupts added, called directly: no real signal reaches the test runner. */
type Listener = (signal: NodeJS.Signals) => void

function added(before: Map<NodeJS.Signals, Listener[]>, signal: NodeJS.Signals): Listener {
  const fresh = (process.listeners(signal) as Listener[]).filter((l) => !before.get(signal)!.includes(l))
  expect(fresh).toHaveLength(1)
  return fresh[0]!
}

describe('watchInterrupts', () => {
  it('keeps the first signal: a later one, of any kind, changes nothing', async () => {
    const before = new Map(INTERRUPT_SIGNALS.map((s) => [s, process.listeners(s) as Listener[]]))
    const watch = watchInterrupts()
    try {
      expect(watch.received).toBeUndefined()
      added(before, 'SIGINT')('SIGINT')
      added(before, 'SIGTERM')('SIGTERM')
      added(before, 'SIGHUP')('SIGHUP')
      expect(watch.received).toBe('SIGINT')
      expect(await watch.signalled).toBe('SIGINT')
      expect(watch.abort.aborted).toBe(true)
      expect(watch.abort.reason).toBe('SIGINT')
      expect(interruptedStatus(watch.received!)).toBe(130)
    } finally {
      watch.dispose()
    }
    for (const s of INTERRUPT_SIGNALS) expect(process.listeners(s)).toEqual(before.get(s))
  })
})
