import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { objectId } from '../../src/core/ids.js'
import { MiniNetwork } from '../../src/node/mini-network.js'
import { openNodeDb, type RootDb } from '../../src/store/index.js'
import { bytesOf, meta } from '../engine/suite.js'

export const NODES = ['node-1', 'node-2', 'node-3', 'node-4']
const created: string[] = []

/** Removes every network directory this module created (for `afterAll`). */
export async function removeNetworks(): Promise<void> {
  await Promise.all(created.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
}

/**
 * A stopped 4-node network on disk (each node's audit key in its directory, `dir/<node id>`) after a
 * few writes. `nodeIds` must be peer ids where a signed snapshot lists the nodes.
 */
export async function networkWithHistory(
  label: string,
  writes = 3,
  nodeIds: readonly string[] = NODES,
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `qfs-${label}-`))
  created.push(dir)
  const net = await MiniNetwork.create({ nodeIds, dir })
  try {
    for (let v = 1; v <= writes; v++) {
      const r = await net
        .engine(nodeIds[v % nodeIds.length]!)
        .putContent(objectId('node-dirs', label), v, bytesOf(`${label}-${v}`, 3000 * v), meta(v))
      if (!r.ok) throw new Error(`write failed: ${JSON.stringify(r)}`)
    }
  } finally {
    await net.close()
  }
  return dir
}

/** The node directory's database, opened for the test's edits and closed after. */
export async function withDb<T>(nodeDir: string, fn: (db: RootDb) => Promise<T>): Promise<T> {
  const db = (await openNodeDb(join(nodeDir, 'db'))) as unknown as RootDb
  try {
    return await fn(db)
  } finally {
    await db.close()
  }
}
