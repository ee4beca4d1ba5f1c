import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { type RunningNode, startNode } from '../../src/daemon/daemon.js'
import { writeSnapshotFile } from '../../src/daemon/snapshot-file.js'
import { capturingLogger, configOf, type Member, members, removeRoot, signed } from './snapshot-fixture.js'

// docs/operations.md "Snapshots": a node adopting an epoch on SIGHUP fetches the earlier epochs it
// lacks from its peers in the background, as it does after a start.

let root = ''
let ms: Member[] = []
const running: RunningNode[] = []

beforeAll(async () => {
  ;({ root, members: ms } = await members('snapshot-backfill-reload', 2))
})
afterEach(async () => {
  for (const n of running.splice(0)) await n.stop().catch(() => {})
})
const roots: string[] = []

/** Epochs 0 and 1 of `ms`, and `ms[0]` running on epoch 1 with epoch 0 held: the peer to fetch from. */
async function peerOnEpochOne(ms: Member[]) {
  const entries = ms.map((m) => m.entry)
  const e0 = signed(0, entries)
  const e1 = signed(1, entries, { previous: e0 })
  const peerConfig = await configOf(ms[0]!)
  await writeSnapshotFile(peerConfig.snapshot, e0)
  const peer = await startNode(peerConfig, { logger: capturingLogger().logger })
  running.push(peer)
  await writeSnapshotFile(peerConfig.snapshot, e1)
  expect(await peer.reloadSnapshot()).toBe('adopted')
  return { e0, e1 }
}
afterAll(async () => {
  for (const r of [root, ...roots]) await removeRoot(r)
})

describe('snapshot backfill after a reload', () => {
  it('a node that starts without a snapshot and adopts epoch 1 on reload gets epoch 0 from its peer', async () => {
    const { e0, e1 } = await peerOnEpochOne(ms)

    const config = await configOf(ms[1]!, { allow_no_snapshot: true })
    await rm(config.snapshot, { force: true })
    const { logger, lines } = capturingLogger()
    const node = await startNode(config, { logger })
    running.push(node)
    await writeSnapshotFile(config.snapshot, e1)
    expect(await node.reloadSnapshot()).toBe('adopted')
    await vi.waitFor(
      () => expect(lines).toContainEqual(expect.objectContaining({ msg: 'the snapshot backfill finished' })),
      { timeout: 10_000, interval: 50 },
    )
    expect(lines).toContainEqual(expect.objectContaining({ level: 'info', epochs: [0] }))
    expect(node.membership.at(0)?.snapshotHash).toBe(e0.snapshot_hash)
    expect(node.membership.current().epoch).toBe(1)
    expect(JSON.parse(await readFile(join(config.dir, 'snapshots', 'epoch-0.json'), 'utf8'))).toEqual(e0)
  })

  it('a node that starts on epoch 1 gets epoch 0 from its peer without a reload', async () => {
    const own = await members('snapshot-backfill-start', 2)
    roots.push(own.root)
    const ms = own.members
    const { e0, e1 } = await peerOnEpochOne(ms)

    const config = await configOf(ms[1]!)
    await writeSnapshotFile(config.snapshot, e1)
    const { logger, lines } = capturingLogger()
    const node = await startNode(config, { logger })
    running.push(node)
    // Saved, then announced: the file is there once the run says it finished.
    await vi.waitFor(
      () =>
        expect(lines).toContainEqual(
          expect.objectContaining({ msg: 'the snapshot backfill finished', epochs: [0] }),
        ),
      { timeout: 10_000, interval: 50 },
    )
    expect(node.membership.at(0)?.snapshotHash).toBe(e0.snapshot_hash)
    expect(JSON.parse(await readFile(join(config.dir, 'snapshots', 'epoch-0.json'), 'utf8'))).toEqual(e0)
  })
})
