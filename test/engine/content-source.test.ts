import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { type ContentSource, contentSource } from '../../src/engine/write.js'
import type { EngineHarness } from './harness.js'
import { inProcessHarness } from './harness.js'
import { meta } from './suite.js'

describe('contentSource', () => {
  it('takes bytes whole, and a {size, chunks} source whose chunks iterate', () => {
    const bytes = new Uint8Array([1, 2, 3])
    expect(contentSource(bytes)).toEqual({ size: 3, chunks: [bytes] })
    async function* gen() {
      yield bytes
    }
    for (const chunks of [[bytes], gen(), new Set([bytes])]) {
      const source = { size: 3, chunks }
      expect(contentSource(source)).toBe(source)
    }
  })

  it.each([
    ['null', null],
    ['a number', 5],
    ['no size', { chunks: [] }],
    ['a negative size', { size: -1, chunks: [] }],
    ['a fractional size', { size: 1.5, chunks: [] }],
    ['chunks that are a number', { size: 1, chunks: 5 }],
    ['chunks that are a string', { size: 1, chunks: 'a' }],
    ['chunks that are a plain object', { size: 1, chunks: { length: 1 } }],
    ['chunks null', { size: 1, chunks: null }],
  ])('refuses %s', (_what, value) => {
    expect(contentSource(value as unknown as ContentSource)).toBeUndefined()
  })
})

describe('the engine given content whose chunks do not iterate', () => {
  let h: EngineHarness
  beforeAll(async () => {
    h = await inProcessHarness(4)
  })
  afterAll(async () => {
    await h?.close()
  })

  it('answers INVALID_INPUT before any byte moves, not an internal error', async () => {
    const e = h.engine(h.nodeIds[0]!)
    const answer = await e.putContent(
      objectId('content-source', 'numbers'),
      1,
      { size: 1, chunks: 5 } as unknown as ContentSource,
      meta(1),
    )
    expect(answer).toMatchObject({ ok: false, error_code: 'SE_ERR_INVALID_INPUT', code: 'INVALID_INPUT' })
  })
})
