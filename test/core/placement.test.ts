import { sha3_256 } from '@noble/hashes/sha3.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { EligibleSet, placeShard, sortEligible } from '../../src/core/placement.js'
import { errorCode, vectorsOf } from '../helpers/core-vectors.js'

const enc = new TextEncoder()
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

// The spec with bigint and @noble/hashes; node ids compared through Buffer (byte order).
function oracle(digest: Uint8Array, nodes: string[], rf: number) {
  const sorted = [...new Set(nodes)].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
  const start = Number(BigInt(`0x${hex(digest)}`) % BigInt(sorted.length))
  return {
    sorted,
    startIndex: start,
    selected: Array.from({ length: rf }, (_, i) => sorted[(start + i) % sorted.length]!),
  }
}

const nodeId = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }),
  fc.constantFrom('alpha', 'Zeta', '~x', '0', 'ä-node', '\uff61', '\ud83d\ude00', 'node-1', 'node-10'),
)
const id32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(hex)

describe('placement vectors', () => {
  it.each(vectorsOf('placement'))('$id', (c) => {
    const { shard_id, eligible_nodes, replication_factor } = c.input as {
      shard_id: string
      eligible_nodes: string[]
      replication_factor: number
    }
    if (c.error !== undefined) {
      expect(errorCode(() => placeShard(shard_id, eligible_nodes, replication_factor))).toBe(c.error)
      return
    }
    const placement = placeShard(shard_id, eligible_nodes, replication_factor)
    expect({
      eligible_sorted: sortEligible(eligible_nodes),
      start_index: placement.startIndex,
      selected: placement.selected,
    }).toEqual(c.expected)
    const o = oracle(sha3_256(Buffer.from(shard_id, 'hex')), eligible_nodes, replication_factor)
    expect([o.sorted, o.startIndex, o.selected]).toEqual([
      c.expected!.eligible_sorted,
      c.expected!.start_index,
      c.expected!.selected,
    ])
  })
})

describe('sortEligible', () => {
  it('sorts by UTF-8 bytes, not UTF-16 units or locale', () => {
    expect(sortEligible(['\ud83d\ude00', '\uff61', 'b', 'B', 'a', 'ä', 'b'])).toEqual([
      'B',
      'a',
      'b',
      'ä',
      '\uff61',
      '\ud83d\ude00',
    ])
  })

  it('rejects non-strings, empty ids, lone surrogates and non-arrays with INVALID_INPUT', () => {
    for (const bad of [['a', ''], ['a', 1], [null], ['\ud800'], 'abc', null, { length: 1, 0: 'a' }]) {
      expect(
        errorCode(() => sortEligible(bad as string[])),
        String(bad),
      ).toBe('INVALID_INPUT')
    }
  })
})

describe('EligibleSet', () => {
  it('places replicationFactor distinct listed nodes, as the oracle does', () => {
    fc.assert(
      fc.property(
        fc.array(nodeId, { minLength: 1, maxLength: 30 }),
        id32,
        fc.integer({ min: 1, max: 8 }),
        (nodes, sid, rf) => {
          const set = new EligibleSet(nodes)
          const o = oracle(sha3_256(Buffer.from(sid, 'hex')), nodes, rf)
          expect(set.nodes).toEqual(o.sorted)
          expect(set.size).toBe(o.sorted.length)
          if (rf > set.size) {
            expect(errorCode(() => set.place(sid, rf))).toBe('INSUFFICIENT_NODES')
            return
          }
          const p = set.place(sid, rf)
          expect(p).toEqual({ startIndex: o.startIndex, selected: o.selected })
          expect(new Set(p.selected).size).toBe(rf)
          for (const n of p.selected) expect(set.has(n)).toBe(true)
        },
      ),
      { seed: 1316, numRuns: 300 },
    )
  })

  it('does not depend on input order or duplicates', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(nodeId, { minLength: 3, maxLength: 25 }),
        fc.array(fc.nat()),
        fc.array(fc.nat(), { maxLength: 10 }),
        id32,
        (nodes, order, dupes, sid) => {
          const shuffled = nodes
            .map((n, i) => [order[i] ?? i, n] as const)
            .sort((a, b) => a[0] - b[0])
            .map(([, n]) => n)
          const withDupes = [...shuffled, ...dupes.map((d) => nodes[d % nodes.length]!)]
          expect(new EligibleSet(withDupes).place(sid, 3)).toEqual(new EligibleSet(nodes).place(sid, 3))
          expect(placeShard(sid, withDupes, 3)).toEqual(placeShard(sid, nodes, 3))
          expect(new EligibleSet(withDupes).catalogueHomes(sid, 3)).toEqual(
            new EligibleSet(nodes).catalogueHomes(sid, 3),
          )
        },
      ),
      { seed: 1317, numRuns: 200 },
    )
  })

  it('puts catalogue homes at int(H("QFS-CATALOGUE" || object_id)) mod len', () => {
    fc.assert(
      fc.property(fc.array(nodeId, { minLength: 3, maxLength: 30 }), id32, (nodes, oid) => {
        const set = new EligibleSet(nodes)
        if (set.size < 3) return
        const digest = sha3_256(Uint8Array.from([...enc.encode('QFS-CATALOGUE'), ...Buffer.from(oid, 'hex')]))
        expect(set.catalogueHomes(oid, 3)).toEqual(oracle(digest, nodes, 3).selected)
      }),
      { seed: 1318, numRuns: 200 },
    )
  })

  it('checks its arguments: ids, factor, then enough nodes', () => {
    const set = new EligibleSet(['a', 'b', 'c'])
    const sid = 'ab'.repeat(32)
    for (const bad of ['AB'.repeat(32), 'ab'.repeat(31), 7]) {
      expect(errorCode(() => set.place(bad as string, 1))).toBe('INVALID_INPUT')
      expect(errorCode(() => set.catalogueHomes(bad as string, 1))).toBe('INVALID_INPUT')
      expect(errorCode(() => placeShard(bad as string, ['a'], 5))).toBe('INVALID_INPUT')
    }
    for (const rf of [0, -1, 1.5, Number.NaN, '2']) {
      expect(errorCode(() => set.place(sid, rf as number))).toBe('INVALID_INPUT')
      expect(errorCode(() => set.catalogueHomes(sid, rf as number))).toBe('INVALID_INPUT')
    }
    expect(errorCode(() => set.place(sid, 4))).toBe('INSUFFICIENT_NODES')
    expect(errorCode(() => set.catalogueHomes(sid, 4))).toBe('INSUFFICIENT_NODES')
    expect(errorCode(() => new EligibleSet([]).place(sid, 1))).toBe('INSUFFICIENT_NODES')
    expect(set.place(sid, 3).selected.slice().sort()).toEqual(['a', 'b', 'c'])
    expect(set.has('d')).toBe(false)
  })
})
