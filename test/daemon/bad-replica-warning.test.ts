import { afterAll, describe, expect, it } from 'vitest'
import { generateContent } from '../../src/conformance/content.js'
import { equalBytes } from '../../src/core/bytes.js'
import { objectId } from '../../src/core/ids.js'
import { type RunningNode, startNode } from '../../src/daemon/daemon.js'
import { writeSnapshotFile } from '../../src/daemon/snapshot-file.js'
import { blockKey } from '../../src/store/index.js'
import { capturingLogger, configOf, members, removeRoot, signed } from './snapshot-fixture.js'

/**
 * docs/operations.md: damage inside blocks is caught by the readers, which "verify every block and
 * fail over to another replica (and count it in `qfs_peer_failures_total{code="INTEGRITY_MISMATCH"}`
 * with a warning)"; its metrics table names the warning, `a replica served data that does not
 * verify`. The daemon wires both (daemon.ts); four daemons, a block changed on disk at two of a
 * shard's three replicas, and a read through the fourth node.
 */

const BLOCK = 262_144

let root = ''
const nodes: RunningNode[] = []
afterAll(async () => {
  for (const n of nodes) await n.stop().catch(() => {})
  await removeRoot(root)
})

describe('daemon: a replica serving blocks that do not verify', () => {
  it('is skipped by the reader, counted as INTEGRITY_MISMATCH and named in a warning', async () => {
    const made = await members('bad-replica', 4)
    root = made.root
    const snapshot = signed(
      0,
      made.members.map((m) => m.entry),
    )
    const logs = made.members.map(() => capturingLogger())
    for (const [i, m] of made.members.entries()) {
      const config = await configOf(m)
      await writeSnapshotFile(config.snapshot, snapshot)
      nodes.push(await startNode(config, { logger: logs[i]!.logger }))
    }
    const oid = objectId('bad-replica', 'one')
    const content = generateContent({ sha3_stream: 'bad-replica', length: 4 * BLOCK + 100 })
    const put = await nodes[0]!.engine.putContent(oid, 1, content, {
      author_node_id: 'a',
      created_at_tick: 1,
    })
    expect(put.ok).toBe(true)
    if (!put.ok) return
    const shard = put.shard_ids[0]!
    const replicas = put.replica_sets[shard]!
    const byId = (id: string) => nodes.find((n) => n.nodeId === id)!
    const readerIndex = nodes.findIndex((n) => !replicas.includes(n.nodeId))
    const reader = nodes[readerIndex]!
    // Block 0 of shard 0 changed on disk at every replica but one: whichever the reader asks
    // first, at least one serves it changed.
    const bad = replicas.slice(0, -1)
    for (const id of bad) {
      const store = byId(id).local.store
      const m = (await store.getManifest(shard))!
      await store.sublevels.blocks.put(blockKey(m.stagingId, 0), new Uint8Array(BLOCK).fill(7))
    }

    const got = await reader.engine.getContent(oid, 1)
    expect(got.ok).toBe(true)
    if (got.ok) expect(equalBytes(got.content_bytes, content)).toBe(true)

    const warnings = logs[readerIndex]!.lines.filter(
      (l) => l.msg === 'a replica served data that does not verify',
    )
    expect(warnings.length).toBeGreaterThan(0)
    for (const w of warnings) {
      expect(w).toMatchObject({ level: 'warn', code: 'INTEGRITY_MISMATCH', node_id: reader.nodeId })
      expect(bad).toContain(w.peer)
    }
    const metrics = await (await fetch(`${reader.apiUrl}/metrics`)).text()
    const peer = warnings[0]!.peer as string
    expect(metrics).toMatch(
      new RegExp(`qfs_peer_failures_total\\{node="${peer}",code="INTEGRITY_MISMATCH"\\} [1-9]`),
    )
  }, 60_000)
})
