import { describe, expect, it } from 'vitest'
import { CliExit, type CliIo, EXIT, jsonText, reportError } from '../../src/cli/io.js'
import { QfsError } from '../../src/core/errors.js'

/** reportError with its stderr captured. */
function report(err: unknown): { status: number; stderr: string } {
  let stderr = ''
  const io: CliIo = {
    stdout: () => {},
    stderr: (t) => {
      stderr += t
    },
    isTty: false,
  }
  return { status: reportError(io, err), stderr }
}

describe('reportError: one line and the exit status programs branch on', () => {
  it.each([
    'INVALID_INPUT',
    'INVALID_METADATA',
    'INVALID_NUMBER',
    'INVALID_CONFIG',
    'INVALID_ARGUMENT',
    'OVERFLOW',
    'UNDERFLOW',
  ])('exits 2 (bad input, nothing done) for %s', (code) => {
    expect(report(new QfsError(code, 'what was wrong'))).toEqual({
      status: EXIT.USAGE,
      stderr: `error [${code}]: what was wrong\n`,
    })
  })

  it.each(['NODE_UNAVAILABLE', 'IO_ERROR', 'INVALID', 'INTERNAL'])('exits 3 for %s', (code) => {
    expect(report(new QfsError(code, 'it failed')).status).toBe(EXIT.FAILED)
  })

  it("names an operating system's errno error IO_ERROR, keeping its own words", () => {
    const err = Object.assign(new Error('ENOSPC: no space left on device, write'), {
      code: 'ENOSPC',
      errno: -28,
      syscall: 'write',
    })
    expect(report(err)).toEqual({
      status: EXIT.FAILED,
      stderr: 'error [IO_ERROR]: ENOSPC: no space left on device, write\n',
    })
    // A code that only looks like errno, without a system call, is kept as it is.
    const library = Object.assign(new Error('stream ended'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })
    expect(report(library).stderr).toBe('error [ERR_STREAM_PREMATURE_CLOSE]: stream ended\n')
    const noCall = Object.assign(new Error('went away'), { code: 'EGONE' })
    expect(report(noCall).stderr).toBe('error [EGONE]: went away\n')
  })

  it('takes the status a command chose, printing nothing', () => {
    expect(report(new CliExit(4))).toEqual({ status: 4, stderr: '' })
  })
})

describe('jsonText', () => {
  it('escapes DEL and the C1 controls as well as what JSON.stringify escapes', () => {
    expect(jsonText('a\u007fb\u0080c\u009bd\u009fe\u00a0f\n')).toBe(
      '"a\\u007fb\\u0080c\\u009bd\\u009fe\u00a0f\\n"',
    )
    expect(JSON.parse(jsonText({ t: '\u007f\u009b' }))).toEqual({ t: '\u007f\u009b' })
  })
})
