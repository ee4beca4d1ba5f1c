import { describe, expect, it } from 'vitest'
import { QfsError } from '../../src/core/errors.js'
import {
  listVersions,
  MAX_FILTER_TEXT_UNITS,
  MAX_PAGE,
  validateFilters,
  validateNodeListFilters,
} from '../../src/engine/list.js'
import { NotEligibleError } from '../../src/net/errors.js'

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

  /** The refusal's message, or undefined when the filters are taken. */
  function refusal(filters: unknown): string | undefined {
    try {
      validateFilters(filters)
      return undefined
    } catch (err) {
      expect(err).toMatchObject({ code: 'INVALID_INPUT' })
      return (err as Error).message
    }
  }

  it.each(['tag', 'author'])('bounds %s at 1..256 UTF-16 code units and says so', (key) => {
    expect(MAX_FILTER_TEXT_UNITS).toBe(256)
    // 256 units taken: in BMP characters, and as 128 astral ones (two units each).
    expect(validateFilters({ [key]: 'x'.repeat(256) })).toEqual({ [key]: 'x'.repeat(256) })
    expect(validateFilters({ [key]: '\u{1F600}'.repeat(128) })).toEqual({ [key]: '\u{1F600}'.repeat(128) })
    // 257 units refused, 129 astral characters among them (129 code points only): the unit is UTF-16's.
    expect(refusal({ [key]: 'x'.repeat(257) })).toBe(`${key} must be 1..256 UTF-16 code units long, not 257`)
    expect(refusal({ [key]: '\u{1F600}'.repeat(129) })).toBe(
      `${key} must be 1..256 UTF-16 code units long, not 258`,
    )
    expect(refusal({ [key]: '' })).toBe(`${key} must be 1..256 UTF-16 code units long, not 0`)
    expect(refusal({ [key]: 7 })).toBe(`${key} must be a string of 1..256 UTF-16 code units`)
  })
})

describe('the bounds of each filter', () => {
  const id = 'ab'.repeat(32)
  it.each<[string, unknown, boolean]>([
    ['limit 0', { limit: 0 }, false],
    ['limit 1', { limit: 1 }, true],
    ['limit MAX_PAGE', { limit: MAX_PAGE }, true],
    ['limit MAX_PAGE + 1', { limit: MAX_PAGE + 1 }, false],
    ['limit 1.5', { limit: 1.5 }, false],
    ['a prefix of 64 hex digits', { prefix: id }, true],
    ['a prefix of 65 hex digits', { prefix: `${id}a` }, false],
    ['an empty prefix', { prefix: '' }, true],
    ['an upper-case prefix', { prefix: 'AB' }, false],
    ['after version 0', { after: { object_id: id, version: 0 } }, true],
    ['after version -1', { after: { object_id: id, version: -1 } }, false],
    ['after version 1.5', { after: { object_id: id, version: 1.5 } }, false],
    ['after a short id', { after: { object_id: 'ab', version: 1 } }, false],
    ['tick_from 0', { tick_from: 0 }, true],
    ['tick_from -1', { tick_from: -1 }, false],
    ['tick_to 1.5', { tick_to: 1.5 }, false],
    ['tick_to "3"', { tick_to: '3' }, false],
  ])('%s: taken %s', (_what, filters, taken) => {
    expect(codeOf(() => validateFilters(filters))).toBe(taken ? undefined : 'INVALID_INPUT')
  })

  it.each<[string, unknown, boolean]>([
    ['scan_budget 1', { scan_budget: 1 }, true],
    ['scan_budget 0', { scan_budget: 0 }, false],
    ['scan_budget 1.5', { scan_budget: 1.5 }, false],
    ['max_bytes 1', { max_bytes: 1 }, true],
    ['max_bytes 0', { max_bytes: 0 }, false],
    ['max_bytes "8"', { max_bytes: '8' }, false],
  ])("a coordinator's %s (replica/list): taken %s", (_what, filters, taken) => {
    expect(codeOf(() => validateNodeListFilters(filters))).toBe(taken ? undefined : 'INVALID_INPUT')
  })
})

describe('a listing no node answered', () => {
  it('names the nodes’ codes, counted, as a refused write does', async () => {
    // The eligible nodes refuse a coordinator their snapshot does not list: the operator must see
    // that, not a bare "no node answered".
    const refusal = new NotEligibleError('not in the snapshot')
    const transport = {
      listRecords: async (node: string) => {
        if (node === 'c') throw new QfsError('TIMEOUT', 'silent')
        throw refusal
      },
    }
    const ctx = { nodeId: 'z', transport, timeouts: {} } as never
    const err = await listVersions(ctx, ['a', 'b', 'c'], {}).catch((e: unknown) => e)
    expect(err).toMatchObject({
      code: 'QUORUM_NOT_REACHED',
      message: 'no node answered the listing (NOT_ELIGIBLE x2, TIMEOUT)',
    })
  })
})
