import { afterAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { type RunningNode, startNode } from '../../src/daemon/daemon.js'
import { readRunInfo } from '../../src/daemon/data-dir.js'
import { createLogger } from '../../src/daemon/logger.js'
import { writeSnapshotFile } from '../../src/daemon/snapshot-file.js'
import type { StorageEvent } from '../../src/log/index.js'
import { configOf, members, removeRoot, signed } from './snapshot-fixture.js'

let root = ''
let node: RunningNode | undefined
afterAll(async () => {
  await node?.stop().catch(() => {})
  await removeRoot(root)
})

describe('daemon: one node on its own', () => {
  it('starts at the start tick of the snapshot in force: a request that states no tick is logged at it', async () => {
    const made = await members('daemon-single', 1)
    root = made.root
    const m = made.members[0]!
    const config = await configOf(m)
    await writeSnapshotFile(config.snapshot, signed(0, [m.entry], { startTick: 5_000 }))
    node = await startNode(config, { logger: createLogger('silent') })
    const before = node.local.log.head().entries
    await node.engine.getContent(objectId('daemon-clock', 'missing'), 1)
    const events: StorageEvent[] = []
    for await (const e of node.local.log.iterate()) events.push(e)
    expect(events.length).toBeGreaterThan(before)
    expect(events.at(-1)!.timestamp_tick).toBe(5_000)
  })

  it('is not ready once its libp2p node has stopped under it', async () => {
    const n = node!
    expect(n.readiness()).toEqual({ store: true, libp2p: true, snapshot: true, eligible: true })
    await n.libp2p.stop()
    expect(n.readiness()).toMatchObject({ libp2p: false })
    expect((await fetch(`${n.apiUrl}/readyz`)).status).toBe(503)
    expect(await (await fetch(`${n.apiUrl}/v1/status`)).json()).toMatchObject({ ready: false })
  })

  it('runs every stop step when one fails, then rejects with that failure', async () => {
    const n = node!
    const close = n.local.close.bind(n.local)
    ;(n.local as { close: () => Promise<void> }).close = async () => {
      await close()
      throw new Error('the disk went away')
    }
    await expect(n.stop()).rejects.toThrow('the disk went away')
    // The steps after it ran all the same.
    expect(await readRunInfo(n.config.dir)).toBeUndefined()
  })
})
