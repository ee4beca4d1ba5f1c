import fc from 'fast-check'
import type { LinkFaults } from './chaos-transport.js'

/**
 * The generated cases of the chaos test (chaos-consistency.test.ts): a few writers, shared objects,
 * reads, listings and proofs, and node faults, each step starting at its own time so that they
 * overlap. Nodes are indices 0..4 of the 5-node network.
 */

export const NODES = 5

/**
 * A write of `object`: version `latest acknowledged + 1 - back` (at least 1) when it starts; `back`
 * -1 (wide profile) is a writer ahead, whose version is a gap unless one was decided unacknowledged.
 */
export interface WriteStep {
  op: 'write'
  at: number
  writer: number
  object: number
  back: -1 | 0 | 1 | 2
  /** 0 or 1: one of two contents for the version (repeats are identical writes); 2: a delete marker. */
  variant: 0 | 1 | 2
}

export type Step =
  | WriteStep
  /** 'acked': the highest version acknowledged when the read starts (1 when none). */
  | { op: 'read'; at: number; node: number; object: number; version: number | 'latest' | 'acked' }
  | { op: 'list'; at: number; node: number; object: number | 'all' }
  | { op: 'proof'; at: number; node: number; object: number; version: number | 'acked'; shard: number }
  /** A fault of `node` from `at` for `ms` (past the steps' end it lasts until the network heals). */
  | { op: 'down' | 'freeze'; at: number; node: number; ms: number }
  | { op: 'link'; at: number; node: number; ms: number; faults: LinkFaults }
  /** The staging sweep of a node, at age 0: every finished staged shard is rolled forward or removed. */
  | { op: 'sweep'; at: number; node: number }

export interface ChaosCase {
  /** Seeds the message timings and losses (chaos-transport.ts). */
  seed: number
  /** Names the objects, so cases place them on different homes. */
  label: number
  objects: number
  /** Coordinating nodes of the writes. */
  writers: number[]
  /** Content sizes of variants 0 and 1 (each version shifts them, so versions differ in size). */
  sizes: [number, number]
  steps: Step[]
  /** The node taken down for the final check of acknowledged writes with one node away. */
  finalDown: number
}

const node = fc.integer({ min: 0, max: NODES - 1 })
const at = fc.integer({ min: 0, max: 300 })
const version = fc.integer({ min: 1, max: 4 })
const lasting = fc.integer({ min: 20, max: 300 })

const link: fc.Arbitrary<LinkFaults> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      maxDelayMs: fc.integer({ min: 0, max: 40 }),
      dropRequest: fc.constant(0),
      dropReply: fc.constant(0),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      maxDelayMs: fc.integer({ min: 0, max: 20 }),
      dropRequest: fc.constantFrom(0, 0.1, 0.3),
      dropReply: fc.constantFrom(0, 0.1, 0.3),
    }),
  },
)

function step(objects: number, writers: number): fc.Arbitrary<Step> {
  const object = fc.integer({ min: 0, max: objects - 1 })
  return fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        op: fc.constant('write' as const),
        at,
        writer: fc.integer({ min: 0, max: writers - 1 }),
        object,
        back: fc.constantFrom(0 as const, 0 as const, 1 as const),
        variant: fc.constantFrom(0 as const, 0 as const, 1 as const, 2 as const),
      }),
    },
    {
      weight: 6,
      arbitrary: fc.record({
        op: fc.constant('read' as const),
        at,
        node,
        object,
        version: fc.oneof(fc.constant('latest' as const), fc.constant('acked' as const), version),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('list' as const),
        at,
        node,
        object: fc.oneof(object, fc.constant('all' as const)),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('proof' as const),
        at,
        node,
        object,
        version: fc.oneof(fc.constant('acked' as const), version),
        shard: fc.integer({ min: 0, max: 3 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('down' as const), at, node, ms: lasting }) },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constant('freeze' as const), at, node, ms: lasting }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ op: fc.constant('link' as const), at, node, ms: lasting, faults: link }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('sweep' as const), at, node }) },
  )
}

export const chaosCase: fc.Arbitrary<ChaosCase> = fc
  .record({
    objects: fc.integer({ min: 1, max: 3 }),
    writers: fc.uniqueArray(node, { minLength: 2, maxLength: 4 }),
  })
  .chain(({ objects, writers }) =>
    fc.record({
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      label: fc.integer({ min: 0, max: 1_000_000 }),
      objects: fc.constant(objects),
      writers: fc.constant(writers),
      sizes: fc.tuple(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 3000 })),
      steps: fc.array(step(objects, writers.length), { minLength: 4, maxLength: 20 }),
      finalDown: node,
    }),
  )
