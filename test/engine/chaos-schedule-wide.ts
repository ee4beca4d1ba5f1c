import fc from 'fast-check'
import { type ChaosCase, NODES, type Step } from './chaos-schedule.js'
import type { LinkFaults } from './chaos-transport.js'

/**
 * The "wide" profile of the chaos test (QFS_CHAOS_PROFILE=wide): the default profile's steps
 * (chaos-schedule.ts) over a larger space, to search where the CI cases do not go: up to 5 objects
 * and 5 writers, up to 40 steps over 1.2 s, writers up to two versions behind (`back` 2) or one
 * ahead (`back` -1: a gap at the homes, or the version after one decided unacknowledged), outages
 * and freezes up to a second, links losing up to half their messages, more staging sweeps, and
 * faults that take two nodes at once (which leaves a version's homes without a majority), and
 * writers that start together on one object (races, which the longer window would make rare).
 */

const node = fc.integer({ min: 0, max: NODES - 1 })
const at = fc.integer({ min: 0, max: 1200 })
const version = fc.integer({ min: 1, max: 6 })
const lasting = fc.integer({ min: 20, max: 1000 })
const drop = fc.constantFrom(0, 0.1, 0.3, 0.5)
const variant = fc.constantFrom(0 as const, 0 as const, 1 as const, 2 as const)

const link: fc.Arbitrary<LinkFaults> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      maxDelayMs: fc.integer({ min: 0, max: 40 }),
      dropRequest: fc.constant(0),
      dropReply: fc.constant(0),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ maxDelayMs: fc.integer({ min: 0, max: 20 }), dropRequest: drop, dropReply: drop }),
  },
)

/** Steps that start together; most are one step, a fault of two nodes is two. */
function steps(objects: number, writers: number): fc.Arbitrary<Step[]> {
  const object = fc.integer({ min: 0, max: objects - 1 })
  const one = (a: fc.Arbitrary<Step>) => a.map((s) => [s])
  const fault = fc.constantFrom('down' as const, 'down' as const, 'freeze' as const)
  return fc.oneof(
    {
      weight: 8,
      arbitrary: one(
        fc.record({
          op: fc.constant('write' as const),
          at,
          writer: fc.integer({ min: 0, max: writers - 1 }),
          object,
          back: fc.constantFrom(
            0 as const,
            0 as const,
            0 as const,
            0 as const,
            1 as const,
            2 as const,
            -1 as const,
          ),
          variant,
        }),
      ),
    },
    {
      weight: 6,
      arbitrary: one(
        fc.record({
          op: fc.constant('read' as const),
          at,
          node,
          object,
          version: fc.oneof(fc.constant('latest' as const), fc.constant('acked' as const), version),
        }),
      ),
    },
    {
      weight: 1,
      arbitrary: one(
        fc.record({
          op: fc.constant('list' as const),
          at,
          node,
          object: fc.oneof(object, fc.constant('all' as const)),
        }),
      ),
    },
    {
      weight: 1,
      arbitrary: one(
        fc.record({
          op: fc.constant('proof' as const),
          at,
          node,
          object,
          version: fc.oneof(fc.constant('acked' as const), version),
          shard: fc.integer({ min: 0, max: 3 }),
        }),
      ),
    },
    { weight: 2, arbitrary: one(fc.record({ op: fc.constant('down' as const), at, node, ms: lasting })) },
    { weight: 1, arbitrary: one(fc.record({ op: fc.constant('freeze' as const), at, node, ms: lasting })) },
    {
      weight: 3,
      arbitrary: one(fc.record({ op: fc.constant('link' as const), at, node, ms: lasting, faults: link })),
    },
    { weight: 2, arbitrary: one(fc.record({ op: fc.constant('sweep' as const), at, node })) },
    {
      // Writers racing on one version: a long window spreads single writes too thin to overlap often.
      weight: 2,
      arbitrary: fc
        .record({
          at,
          object,
          writers: fc.uniqueArray(fc.integer({ min: 0, max: writers - 1 }), { minLength: 2, maxLength: 3 }),
          variants: fc.tuple(variant, variant, variant),
        })
        .map(({ at, object, writers, variants }): Step[] =>
          writers.map((w, i) => ({ op: 'write', at, writer: w, object, back: 0, variant: variants[i]! })),
        ),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({
          at,
          nodes: fc.uniqueArray(node, { minLength: 2, maxLength: 2 }),
          ops: fc.tuple(fault, fault),
          ms: fc.tuple(lasting, lasting),
        })
        .map(({ at, nodes, ops, ms }): Step[] =>
          nodes.map((n, i) => ({ op: ops[i]!, at, node: n, ms: ms[i]! })),
        ),
    },
  )
}

export const wideChaosCase: fc.Arbitrary<ChaosCase> = fc
  .record({
    objects: fc.integer({ min: 1, max: 5 }),
    writers: fc.uniqueArray(node, { minLength: 2, maxLength: 5 }),
  })
  .chain(({ objects, writers }) =>
    fc.record({
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      label: fc.integer({ min: 0, max: 1_000_000 }),
      objects: fc.constant(objects),
      writers: fc.constant(writers),
      sizes: fc.tuple(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 3000 })),
      steps: fc
        .array(steps(objects, writers.length), { minLength: 4, maxLength: 30 })
        .map((groups) => groups.flat().slice(0, 40)),
      finalDown: node,
    }),
  )
