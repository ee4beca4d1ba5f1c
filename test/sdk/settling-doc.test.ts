/**
 * The figures docs/sdk.md "Many calls at once" gives for asking a proof or listing again after
 * NODE_BUSY, read from the page and checked against the constants the behaviour tests use
 * (settling.test.ts, settling-bounds.test.ts, settling-calls.test.ts, settling-hostile.test.ts).
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { FIRST_PAUSE_MS, MAX_PAUSE_MS, SETTLE_MS } from '../../src/sdk/settling.js'

const page = readFileSync(new URL('../../docs/sdk.md', import.meta.url), 'utf8').replace(/\s+/g, ' ')

describe('docs/sdk.md on asking again after NODE_BUSY', () => {
  it('states the window, the pauses and the bound of one call as the code has them', () => {
    const window = /refuses `NODE_BUSY` within (\d+) s of this client cutting one of that kind short/.exec(
      page,
    )
    expect(window, 'the window sentence').not.toBeNull()
    expect(Number(window![1]) * 1000).toBe(SETTLE_MS)

    const pauses =
      /after a pause of (\d+) to (\d+) ms and then twice as long each time up to (\d+) to (\d+) ms/.exec(page)
    expect(pauses, 'the pauses sentence').not.toBeNull()
    expect(pauses!.slice(1).map(Number)).toEqual([
      FIRST_PAUSE_MS / 2,
      FIRST_PAUSE_MS,
      MAX_PAUSE_MS / 2,
      MAX_PAUSE_MS,
    ])

    const bound = /One call asks again for at most (\d+) s after its first refusal/.exec(page)
    expect(bound, 'the bound sentence').not.toBeNull()
    expect(Number(bound![1]) * 1000).toBe(SETTLE_MS)
  })
})
