import { describe, expect, it } from 'vitest'
import { QfsError } from '../../src/core/errors.js'
import { validateFilters } from '../../src/engine/list.js'

/** docs/protocol.md 4.5: which filters a listing takes, and what null means. */
function codeOf(run: () => unknown): string | undefined {
  try {
    run()
    return undefined
  } catch (err) {
    return err instanceof QfsError ? err.code : 'NOT_A_QFS_ERROR'
  }
}

describe('list filters', () => {
  it('refuses an unknown filter whatever its value, null included', () => {
    for (const value of [null, 1, 'x', {}, []]) {
      expect(codeOf(() => validateFilters({ bogus: value }))).toBe('INVALID_INPUT')
    }
    // A name every object inherits is no filter either.
    expect(codeOf(() => validateFilters(JSON.parse('{"constructor": null}')))).toBe('INVALID_INPUT')
    expect(codeOf(() => validateFilters(JSON.parse('{"__proto__": null}')))).toBe('INVALID_INPUT')
  })

  it('takes a known filter set to null as absent', () => {
    for (const key of ['after', 'limit', 'prefix', 'tag', 'author', 'tick_from', 'tick_to']) {
      expect(validateFilters({ [key]: null })).toEqual({})
    }
    expect(validateFilters({ limit: 5, tag: null })).toEqual({ limit: 5 })
  })
})
