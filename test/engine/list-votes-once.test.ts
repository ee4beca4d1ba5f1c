import { describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import type { VersionRecord } from '../../src/core/record.js'
import { listVersions } from '../../src/engine/list.js'
import { forgeRecord } from './forged-record.js'
import { nodesAnswering } from './list-nodes.js'

/**
 * A node's page is one vote per record, however many times the node sends it: a home that repeats a
 * record it made up in its answer must not reach the majority alone (docs/consistency.md: a version
 * is listed when a majority of its homes report the same record).
 */

const NODES = ['n1', 'n2', 'n3', 'n4', 'n5']
const HOMES = ['n1', 'n2', 'n3']

function record(label: string, version: number, tick: number): VersionRecord {
  const { record } = forgeRecord({
    oid: objectId('list-votes-once', label),
    version,
    content: new Uint8Array(10).fill(tick),
    replicas: [HOMES, HOMES, HOMES, HOMES],
    homes: HOMES,
    tick,
  })
  return record
}

describe('a listing counts each node once per record', () => {
  it('one home sending its made-up record twice does not list it', async () => {
    const made = record('repeated', 1, 9)
    // n1 alone holds it (a minority of 1 of 3), and sends it twice; the other homes hold nothing.
    const ctx = nodesAnswering((n) => (n === 'n1' ? [made, made] : []))
    const page = await listVersions(ctx, NODES, { limit: 10 })
    expect(page.objects).toEqual([])
  })

  it('beside the decided record, one home repeating another of the same version lists only the decided one', async () => {
    const decided = record('beside', 1, 1)
    const made = { ...record('beside', 1, 2), hash_commit: 'cd'.repeat(32) }
    expect(made.hash_commit).not.toBe(decided.hash_commit)
    const ctx = nodesAnswering((n) =>
      n === 'n1' ? [made, made, made] : n === 'n2' || n === 'n3' ? [decided] : [],
    )
    const page = await listVersions(ctx, NODES, { limit: 10 })
    expect(page.objects.map((o) => o.hash_commit)).toEqual([decided.hash_commit])
  })
})
