import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningNode, startNode } from '../../src/daemon/daemon.js'
import { writeSnapshotFile } from '../../src/daemon/snapshot-file.js'
import { capturingLogger, configOf, type Member, members, removeRoot, signed } from './snapshot-fixture.js'

// A node the snapshot does not list cannot serve: every replica exchange it opens comes from its own
// peer id, which the eligible nodes refuse (NOT_ELIGIBLE). It used to report ready and log that it
// "coordinates but holds no shards".

let root = ''
let ms: Member[] = []
const nodes: RunningNode[] = []
const { logger, lines } = capturingLogger()

beforeAll(async () => {
  ;({ root, members: ms } = await members('snapshot-eligible', 2))
  // Node 0 is listed, node 1 is not.
  const snapshot = signed(0, [ms[0]!.entry])
  for (const m of ms) {
    const config = await configOf(m)
    await writeSnapshotFile(config.snapshot, snapshot)
    nodes.push(await startNode(config, { logger: logger.child({ member: m.id.nodeId }) }))
  }
})
afterAll(async () => {
  for (const n of nodes) await n.stop().catch(() => {})
  await removeRoot(root)
})

describe('readiness follows eligibility', () => {
  it('a listed node is ready', async () => {
    const listed = nodes[0]!
    expect(listed.readiness()).toEqual({ store: true, libp2p: true, snapshot: true, eligible: true })
    const r = await fetch(`${listed.apiUrl}/readyz`)
    expect(r.status).toBe(200)
    expect(((await (await fetch(`${listed.apiUrl}/v1/status`)).json()) as { ready: boolean }).ready).toBe(
      true,
    )
  })

  it('a node missing from the snapshot is not ready, says why, and its warning does not claim it coordinates', async () => {
    const outsider = nodes[1]!
    const r = await fetch(`${outsider.apiUrl}/readyz`)
    expect(r.status).toBe(503)
    expect(await r.json()).toEqual({
      ready: false,
      checks: { store: true, libp2p: true, snapshot: true, eligible: false },
    })
    expect(((await (await fetch(`${outsider.apiUrl}/v1/status`)).json()) as { ready: boolean }).ready).toBe(
      false,
    )
    const warnings = lines.filter((l) => l.level === 'warn' && l.node_id === outsider.nodeId)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]!.msg).toMatch(
      /^this node is not in the snapshot: the eligible nodes refuse its replica exchanges, so it serves no writes or reads/,
    )
    expect(warnings[0]!.msg).not.toMatch(/coordinates/)
    expect(lines.filter((l) => l.level === 'warn' && l.node_id === nodes[0]!.nodeId)).toEqual([])
  })
})
