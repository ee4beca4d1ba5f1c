import { describe, expect, it } from 'vitest'
import { REPEAT_ECHO_MS, stopSignalAction } from '../../src/cli/commands/start.js'

/**
 * What SIGINT/SIGTERM does to a running `qfs-node start` (docs/operations.md "Stopping"): the first
 * stops gracefully; a second during the stop exits 3 at once, unless it is the first one delivered
 * twice (the same signal within REPEAT_ECHO_MS: npm, npx and the Node 20 wrapper forward a Ctrl-C the
 * terminal also sent to the process group); once stopped, any exits 0 at once.
 */
describe('stopSignalAction', () => {
  const first = { signal: 'SIGINT' as const, atMs: 1_000 }

  it('stops gracefully on the first signal', () => {
    expect(stopSignalAction('running', undefined, 'SIGINT', 0)).toBe('stop')
    expect(stopSignalAction('running', undefined, 'SIGTERM', 0)).toBe('stop')
  })

  it('ignores the same signal delivered twice in a row while stopping', () => {
    expect(stopSignalAction('stopping', first, 'SIGINT', 1_000)).toBe('ignore')
    expect(stopSignalAction('stopping', first, 'SIGINT', 1_000 + REPEAT_ECHO_MS - 1)).toBe('ignore')
  })

  it('exits at once with status 3 on a later repeat or another signal while stopping', () => {
    expect(stopSignalAction('stopping', first, 'SIGINT', 1_000 + REPEAT_ECHO_MS)).toBe('exit-failed')
    expect(stopSignalAction('stopping', first, 'SIGTERM', 1_001)).toBe('exit-failed')
  })

  it('takes the first signal during a stop that stdin began as the first, not a second one', () => {
    // The supervisor went away (stdin closed), then an operator or a script sends SIGTERM: that
    // joins the stop; only a later, different or late repeated signal cuts it short.
    expect(stopSignalAction('stopping', undefined, 'SIGTERM', 1_001)).toBe('first')
    expect(stopSignalAction('stopping', undefined, 'SIGINT', 1_001)).toBe('first')
  })

  it('exits 0 at once once stopped, whatever the signal or its timing', () => {
    expect(stopSignalAction('stopped', first, 'SIGINT', 1_001)).toBe('exit-ok')
    expect(stopSignalAction('stopped', first, 'SIGTERM', 99_999)).toBe('exit-ok')
  })

  it('keeps the echo window short enough for an operator who will not wait', () => {
    expect(REPEAT_ECHO_MS).toBeGreaterThan(0)
    expect(REPEAT_ECHO_MS).toBeLessThanOrEqual(1_000)
  })
})
