import { describe, expect, it, vi } from 'vitest'
import { computeCase } from '../../src/conformance/run.js'

// A computation that fails with something other than a protocol error: a bug in the implementation.
vi.mock('../../src/core/atr.js', () => ({
  atrCost: () => {
    throw new TypeError('a bug, not an answer')
  },
}))

describe('computeCase', () => {
  it('lets an error that is not a protocol error surface, not reported as an error code', () => {
    const c = {
      id: 'b',
      kind: 'atr_cost',
      input: { content_size: 1, num_shards: 4, replication_factor: 3 },
      error: 'INVALID_INPUT',
    }
    expect(() => computeCase(c)).toThrow(/a bug, not an answer/)
  })
})
