import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

/**
 * docs/architecture.md "Conventions": "No wall clock, no `Math.random`, no floats in core, economics
 * or anything that reaches a log." The core (formulas and economics), the audit log and replay are
 * read for the calls that would break it: the clock, `Math.random`, and number functions that only
 * make sense for fractions.
 */

const SRC = fileURLToPath(new URL('../../src/', import.meta.url))
const FORBIDDEN: Array<[string, RegExp]> = [
  ['the wall clock', /\bDate\.now\(|\bnew Date\(|\bperformance\.now\(|\bprocess\.hrtime/],
  // Keys and temporary file names take the system's CSPRNG (node:crypto); `Math.random` is what is ruled out.
  ['Math.random', /\bMath\.random\(/],
  [
    'floats',
    /\bparseFloat\(|\.toFixed\(|\bMath\.(round|floor|ceil|trunc|sqrt|pow|log)\(|\bNumber\.EPSILON\b/,
  ],
]

function sources(dir: string): string[] {
  return readdirSync(join(SRC, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f))
}

/** The code of a file without its comments (a comment may name what the code must not do). */
function code(file: string): string {
  return readFileSync(join(SRC, file), 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:'"`])\/\/.*$/gm, '$1')
}

describe('docs/architecture.md conventions', () => {
  const files = ['core', 'log', 'replay'].flatMap(sources)

  it('reads the modules it names', () => {
    expect(files).toContain(join('core', 'rewards.ts'))
    expect(files).toContain(join('log', 'event.ts'))
    expect(files.length).toBeGreaterThan(25)
  })

  it.each(FORBIDDEN)('has no %s in src/core, src/log or src/replay', (_what, pattern) => {
    expect(files.filter((f) => pattern.test(code(f)))).toEqual([])
  })
})
