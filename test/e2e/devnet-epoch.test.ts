import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { readAuthorityKeyFile } from '../../src/daemon/authority-key.js'
import { dataPaths } from '../../src/daemon/data-dir.js'
import { Devnet } from '../../src/daemon/devnet.js'
import { devnetPaths, prepareDevnet } from '../../src/daemon/devnet-plan.js'
import { readSnapshotFile, writeSnapshotFile } from '../../src/daemon/snapshot-file.js'
import {
  createSnapshot,
  GENESIS_PREV_HASH,
  signSnapshot,
  verifySnapshot,
} from '../../src/membership/snapshot.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { QfsClient } from '../../src/sdk/index.js'

/**
 * A devnet's first epoch is 0, as `aegis sign --epoch 0` and docs/operations.md start a network; a
 * devnet directory made when devnets began at epoch 1 keeps its snapshot when it is run again.
 */

const NODES = 3

/**
 * Fixed ports for the tests that move a devnet, one range per test, spread by process id so runs
 * side by side rarely meet. Kept below 32768, where Linux starts handing out ephemeral ports: a
 * port the kernel lent to some other test's outgoing connection made a node fail to listen (exit 3).
 */
function testBasePort(range: 0 | 1 | 2): number {
  return 20_000 + range * 4_000 + ((process.pid * 2 * NODES) % 4_000)
}

/** The daemons run the compiled CLI. */
function requireBuild(): void {
  if (!existsSync(new URL('../../dist/cli/main.js', import.meta.url))) {
    throw new Error('the daemons run the compiled CLI: run `npm run build` first (npm test does)')
  }
}

/** Waits for `path` to exist (a daemon's background work done), failing after `ms`. */
async function appears(path: string, ms: number): Promise<void> {
  const until = Date.now() + ms
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`${path} did not appear within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function heldBy(dir: string): Promise<unknown[]> {
  const out: unknown[] = []
  for (let i = 1; i <= NODES; i++)
    out.push(await readSnapshotFile(dataPaths(devnetPaths(dir).node(i)).snapshot))
  return out
}

/** A new devnet of NODES nodes in `dir` stores `bytes` as version 1 of `oid` in epoch 0, then stops. */
async function writeInEpochZero(dir: string, libp2p: Libp2p, oid: string, bytes: Uint8Array): Promise<void> {
  const devnet = await Devnet.start({ dir, nodes: NODES, logLevel: 'warn' })
  try {
    const client = await QfsClient.create({ node: devnet.nodes[0]!.multiaddrs[0]!, libp2p })
    const put = await client.putContent(oid, 1, bytes, { author_node_id: 'e2e', created_at_tick: 1 })
    expect(put).toMatchObject({ ok: true })
  } finally {
    await devnet.stop()
  }
}

describe('devnet epochs', () => {
  let root: string
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'qfs-devnet-epoch-'))
  })
  afterAll(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  })

  it('starts a new devnet at epoch 0, the first of its chain, and keeps it when run again', async () => {
    const dir = join(root, 'new')
    const plan = await prepareDevnet({ dir, nodes: NODES })
    expect(plan.created).toBe(true)
    expect(plan.snapshot.epoch).toBe(0)
    expect(plan.snapshot.start_tick).toBe(0)
    expect(plan.snapshot.prev_snapshot_hash).toBe(GENESIS_PREV_HASH)
    const key = await readAuthorityKeyFile(devnetPaths(dir).authorityKey)
    expect(verifySnapshot(plan.snapshot, [key.publicKey]).ok).toBe(true)
    expect(await heldBy(dir)).toEqual(Array(NODES).fill(plan.snapshot))

    const again = await prepareDevnet({ dir })
    expect(again.created).toBe(false)
    expect(again.snapshot).toEqual(plan.snapshot)
  })

  it('reuses the epoch-1 snapshot of an older devnet as it is, and follows it when the ports change', async () => {
    const dir = join(root, 'older')
    const plan = await prepareDevnet({ dir, nodes: NODES })
    // What a devnet made before held: the same nodes, numbered from epoch 1.
    const key = await readAuthorityKeyFile(devnetPaths(dir).authorityKey)
    const older = signSnapshot(
      createSnapshot({
        epoch: 1,
        startTick: 0,
        nodes: plan.snapshot.nodes,
        authorityPublicKey: key.publicKey,
      }),
      key,
    )
    for (let i = 1; i <= NODES; i++)
      await writeSnapshotFile(dataPaths(devnetPaths(dir).node(i)).snapshot, older)

    const rerun = await prepareDevnet({ dir })
    expect(rerun.snapshot).toEqual(older)
    expect(await heldBy(dir)).toEqual(Array(NODES).fill(older))

    // New ports: a new snapshot, the direct successor a node holding epoch 1 accepts.
    const moved = await prepareDevnet({ dir, basePort: testBasePort(0) })
    expect(moved.snapshot.epoch).toBe(2)
    expect(verifySnapshot(moved.snapshot, [key.publicKey], older)).toMatchObject({ ok: true })
  })

  it('lists and reads the versions of an earlier epoch after the nodes restart in a new one', async () => {
    requireBuild()
    const dir = join(root, 'restarted')
    const oid = objectId('devnet-epoch', 'kept')
    const bytes = new TextEncoder().encode('written in epoch 0')
    const libp2p = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
    try {
      await writeInEpochZero(dir, libp2p, oid, bytes)
      // New ports make epoch 1 with the same nodes; every node restarts on it.
      const devnet = await Devnet.start({
        dir,
        logLevel: 'warn',
        basePort: testBasePort(1),
      })
      try {
        expect(devnet.plan.snapshot.epoch).toBe(1)
        for (const n of devnet.nodes) {
          const client = await QfsClient.create({ node: n.multiaddrs[0]!, libp2p })
          const listed = await client.listObjects({ prefix: oid })
          expect(listed).toMatchObject({ ok: true, objects: [{ object_id: oid, version: 1 }] })
          const read = await client.getContent(oid, 1)
          expect(read).toMatchObject({ ok: true })
          expect(new TextDecoder().decode((read as { content_bytes: Uint8Array }).content_bytes)).toBe(
            'written in epoch 0',
          )
        }
      } finally {
        await devnet.stop()
      }
    } finally {
      await libp2p.stop()
    }
  }, 120_000)

  it('fetches from its peers the epochs a node lost, so the listings it coordinates keep their versions', async () => {
    requireBuild()
    const dir = join(root, 'backfilled')
    const oid = objectId('devnet-epoch', 'backfilled')
    const libp2p = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
    try {
      await writeInEpochZero(dir, libp2p, oid, new TextEncoder().encode('written in epoch 0'))
      // The last node loses its saved snapshots: restarted in epoch 1 it knows no earlier epoch, and
      // counts no vote for a record of epoch 0 until its peers give it that epoch's snapshot.
      const lost = dataPaths(devnetPaths(dir).node(NODES))
      await rm(lost.snapshotHistory, { recursive: true })
      // Every node at once, as a network brought up on a new epoch: its peers may not listen yet.
      const devnet = await Devnet.start({
        dir,
        logLevel: 'info',
        basePort: testBasePort(2),
      })
      try {
        expect(devnet.plan.snapshot.epoch).toBe(1)
        const fetched = join(lost.snapshotHistory, 'epoch-0.json')
        await appears(fetched, 30_000)
        const kept = dataPaths(devnetPaths(dir).node(1)).snapshotHistory
        expect(await readSnapshotFile(fetched)).toEqual(await readSnapshotFile(join(kept, 'epoch-0.json')))
        const client = await QfsClient.create({ node: devnet.nodes[NODES - 1]!.multiaddrs[0]!, libp2p })
        expect(await client.listObjects({ prefix: oid })).toMatchObject({
          ok: true,
          objects: [{ object_id: oid, version: 1 }],
        })
        const log = await readFile(join(devnetPaths(dir).node(NODES), 'node.log'), 'utf8')
        expect(log).toMatch(/"epochs":\[0\],"msg":"the snapshot backfill finished"/)
      } finally {
        await devnet.stop()
      }
    } finally {
      await libp2p.stop()
    }
  }, 120_000)
})
