import { describe, expect, it, vi } from 'vitest'
import { runCli } from './run.js'

/**
 * A vector file past the largest string V8 makes (about 512 MiB; /dev/zero never ends) fails
 * readFile with a RangeError and no errno. Reading one for real takes over 600 MB of memory, so the
 * read is stood in for here; `qfs-node conformance /dev/zero` shows the same line.
 */
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>()
  return {
    ...real,
    readFile: (async (path: unknown, ...rest: unknown[]) => {
      if (path === '/huge.json') throw new RangeError('Invalid string length')
      return (real.readFile as (...a: unknown[]) => unknown)(path, ...rest)
    }) as typeof real.readFile,
  }
})

describe('qfs-node conformance on a file too large to read as text', () => {
  it('refuses it in one line as bad input (exit 2), not with a RangeError stack trace', async () => {
    const r = await runCli(['conformance', '/huge.json'])
    expect(r.stderr).toBe(
      'error [INVALID_INPUT]: vector file /huge.json is too large to read as text (Invalid string length)\n',
    )
    expect(r.status).toBe(2)
  })
})
