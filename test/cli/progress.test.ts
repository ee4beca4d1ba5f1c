import { describe, expect, it } from 'vitest'
import type { CliIo } from '../../src/cli/io.js'
import { createProgress } from '../../src/cli/progress.js'

function capture(isTty: boolean) {
  const out = { stdout: '', stderr: '' }
  const io: CliIo = { stdout: (t) => (out.stdout += t), stderr: (t) => (out.stderr += t), isTty }
  return { io, out }
}

const MIB = 1024 * 1024

describe('progress bar', () => {
  it('draws nothing when stdout is not a terminal, or for a small transfer', () => {
    for (const [tty, total] of [
      [false, 100 * MIB],
      [true, MIB],
    ] as const) {
      const { io, out } = capture(tty)
      const bar = createProgress(io, { label: 'put', total })
      bar.update(total / 2)
      bar.finish()
      expect(out).toEqual({ stdout: '', stderr: '' })
    }
  })

  it('redraws at most once per interval, always at the end, on stderr only', () => {
    const { io, out } = capture(true)
    let clock = 0
    const bar = createProgress(io, {
      label: 'get',
      total: 8 * MIB,
      intervalMs: 100,
      width: 8,
      now: () => clock,
    })
    for (let i = 1; i <= 64; i++) {
      clock += 10 // 64 updates over 640 ms: timed redraws at 10, 110, ..., 610 ms
      bar.update(i * (MIB / 8))
    }
    bar.finish()
    bar.update(0)
    const draws = out.stderr.split('\r').slice(1)
    expect(out.stdout).toBe('')
    // Seven timed redraws, the one reaching the total, and the final one; nothing after finish.
    expect(draws.length).toBe(9)
    expect(draws[0]).toBe('get [--------]   1% 0.1/8.0 MiB')
    expect(draws[1]).toBe('get [#-------]  17% 1.4/8.0 MiB')
    expect(draws[draws.length - 1]).toBe('get [########] 100% 8.0/8.0 MiB\n')
  })
})
