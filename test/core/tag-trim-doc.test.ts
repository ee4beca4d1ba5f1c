/**
 * docs/protocol.md 4.1 lists the exact code points tag normalization trims ("exactly the code points
 * U+0009-U+000D, ..."), so that a client in another language computes `hash_commit` as nodes do. The
 * list is read from the doc and checked over every code point, and against Python's str.isspace(),
 * which the doc names as the reference (when python3 is here).
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { normalizeTag } from '../../src/core/metadata.js'

const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8').replace(/\s+/g, ' ')
const sentence = /removes, at both ends, exactly the code points (.*?) \(Python's/.exec(doc)?.[1]
/** The code points the doc lists, its ranges expanded. */
const documented = (() => {
  if (sentence === undefined) throw new Error('docs/protocol.md 4.1 no longer lists the trimmed code points')
  const out: number[] = []
  for (const m of sentence.matchAll(/U\+([0-9A-F]{4,6})(?:-U\+([0-9A-F]{4,6}))?/g)) {
    const from = Number.parseInt(m[1]!, 16)
    const to = m[2] === undefined ? from : Number.parseInt(m[2], 16)
    for (let c = from; c <= to; c++) out.push(c)
  }
  return out
})()

describe('the white space tag normalization trims (docs/protocol.md 4.1)', () => {
  it('is exactly the listed code points, over all of Unicode', () => {
    expect(documented).toHaveLength(29)
    const listed = new Set(documented)
    const trimmed: number[] = []
    for (let c = 0; c <= 0x10ffff; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue
      const ch = String.fromCodePoint(c)
      if (normalizeTag(`${ch}x${ch}`) === 'x') trimmed.push(c)
    }
    expect(trimmed).toEqual([...listed].sort((a, b) => a - b))
    // The doc's own example: U+001C trimmed, X lower-cased, U+FEFF kept.
    expect(normalizeTag('\u001cX\ufeff')).toBe('x\ufeff')
  })

  const python = spawnSync(
    'python3',
    ['-c', 'print(",".join(str(c) for c in range(0x110000) if chr(c).isspace()))'],
    {
      encoding: 'utf8',
    },
  )
  it.skipIf(python.status !== 0)("is Python's str.isspace(), as the doc says", () => {
    expect(python.stdout.trim().split(',').map(Number)).toEqual(documented)
  })
})
