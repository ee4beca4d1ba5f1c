import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import {
  checkCase,
  computeCase,
  parseVectorFile,
  VECTOR_FORMAT,
  type VectorCase,
} from '../../src/conformance/run.js'
import { errorCode } from '../helpers/core-vectors.js'

/**
 * The runner of the conformance vectors, called directly: a case that is malformed, of an unknown
 * kind or with input of the wrong type must not pass, nor be computed from something else.
 */

const file = JSON.parse(await readFile('test/vectors/core-public.json', 'utf8')) as { cases: VectorCase[] }
const byKind = (kind: string): VectorCase =>
  structuredClone(file.cases.find((c) => c.kind === kind && c.expected)!)
const parse = (cases: unknown) => () => parseVectorFile({ format: VECTOR_FORMAT, cases })

describe('parseVectorFile', () => {
  it('takes the public file whole', () => {
    expect(parseVectorFile(file).map((c) => c.id)).toEqual(file.cases.map((c) => c.id))
  })

  it('refuses a file or case of the wrong shape with INVALID_INPUT', () => {
    const good = byKind('object_id')
    expect(errorCode(() => parseVectorFile({ format: VECTOR_FORMAT }))).toBe('INVALID_INPUT')
    expect(errorCode(() => parseVectorFile({ format: VECTOR_FORMAT, cases: {} }))).toBe('INVALID_INPUT')
    expect(errorCode(() => parseVectorFile({ format: 'qfs-conformance-vectors/2', cases: [] }))).toBe(
      'INVALID_INPUT',
    )
    for (const bad of [
      null,
      { ...good, id: 1 },
      { ...good, kind: null },
      { ...good, input: null },
      { ...good, input: 'x' },
      { ...good, expected: null },
      // Both an expected result and an error: which one the case checks would be a guess.
      { ...good, error: 'INVALID_INPUT' },
      { id: good.id, kind: good.kind, input: good.input },
      { id: good.id, kind: good.kind, input: good.input, error: 7 },
    ]) {
      expect(errorCode(parse([good, bad])), JSON.stringify(bad)).toBe('INVALID_INPUT')
    }
  })
})

describe('computeCase and checkCase', () => {
  it('answers an unknown kind with INVALID_INPUT, so it cannot pass with an empty expectation', () => {
    const c: VectorCase = { id: 'u', kind: 'object_ids', input: {}, expected: {} }
    expect(computeCase(c)).toEqual({ id: 'u', error: 'INVALID_INPUT' })
    expect(checkCase(c).pass).toBe(false)
  })

  it('checks the input types, never computing from a coerced value', () => {
    const cases: Array<[string, (i: Record<string, unknown>) => void]> = [
      ['challenge', (i) => (i.epoch = 2 ** 53)],
      ['challenge', (i) => (i.leaf_count = 4.5)],
      ['hash_commit', (i) => (i.schema_version = '1')],
      ['placement', (i) => ((i.eligible_nodes as unknown[])[1] = 7)],
      ['placement', (i) => (i.replication_factor = '3')],
      ['bignum', (i) => (i.op = 'pow')],
      ['bignum', (i) => (i.op = 'toString')],
      ['shard_id', (i) => (i.version = 1.5)],
      ['object_id', (i) => (i.namespace = 1)],
      ['atr_cost', (i) => (i.content_size = Number.MAX_SAFE_INTEGER + 2)],
      ['atr_cost', (i) => (i.num_shards = 4.5)],
      ['atr_cost', (i) => (i.replication_factor = 2.5)],
      ['hash_commit', (i) => (i.schema_version = 1.5)],
      ['shard_id', (i) => (i.shard_index = 0.5)],
      ['merkle_proof', (i) => (i.leaf_index = 0.5)],
      ['placement', (i) => (i.replication_factor = 1.5)],
    ]
    for (const [kind, spoil] of cases) {
      const c = byKind(kind)
      spoil(c.input)
      expect(computeCase(c), `${kind} ${JSON.stringify(c.input).slice(0, 120)}`).toEqual({
        id: c.id,
        error: 'INVALID_INPUT',
      })
      expect(checkCase(c).pass).toBe(false)
    }
  })

  it('refuses a leaf index past the last leaf', () => {
    const c = byKind('merkle_proof')
    const leafCount = (c.expected as { leaf_count: number }).leaf_count
    c.input.leaf_index = leafCount
    expect(computeCase(c)).toEqual({ id: c.id, error: 'INVALID_INPUT' })
    c.input.leaf_index = leafCount - 1
    expect('result' in computeCase(c)).toBe(true)
  })

  it('checks every public case: each fails once its expectation is changed', () => {
    for (const c of file.cases) {
      expect(checkCase(c).pass, c.id).toBe(true)
      const spoilt = structuredClone(c)
      if (spoilt.error !== undefined) spoilt.error = spoilt.error === 'OVERFLOW' ? 'UNDERFLOW' : 'OVERFLOW'
      else {
        const expected = spoilt.expected!
        const key = Object.keys(expected).at(-1)!
        expected[key] = { changed: expected[key] }
      }
      expect(checkCase(spoilt).pass, c.id).toBe(false)
    }
  })

  it('passes a case whose expected error matches, and only that one', () => {
    const c = structuredClone(file.cases.find((x) => x.error !== undefined)!)
    expect(checkCase(c).pass).toBe(true)
    expect(checkCase({ ...c, error: 'OVERFLOW' }).pass).toBe(false)
    expect(checkCase({ ...c, error: undefined, expected: {} }).pass).toBe(false)
  })
})
