import { cp, readdir, rm, stat, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openLocalNode } from '../../src/node/local-node.js'
import { networkWithHistory, removeNetworks } from '../cli/node-dirs.js'
import { runCli } from '../cli/run.js'
import { openLocalAsDaemon, openOutcome } from './open-outcome.js'

afterAll(removeNetworks)

/**
 * A node's data directory on a real LevelDB that lost the tail of its log: docs/operations.md's
 * "Data directory" cases. LevelDB opens both without a word, and the log left verifies on its own;
 * the node's start refuses them by the head it recorded in D/log-head.json.
 */

const outcome = openOutcome

async function appendReads(nodeDir: string, ticks: number[]): Promise<void> {
  const node = await openLocalNode({ nodeId: 'node-1', dir: nodeDir })
  for (const tick of ticks) await node.log.append({ event_type: 'READ', epoch: 0, timestamp_tick: tick })
  await node.close()
}

async function logVerify(nodeDir: string) {
  const r = await runCli(['log', 'verify', '--dir', nodeDir, '--json'])
  return { status: r.status, verdict: JSON.parse(r.stdout) }
}

describe('a data directory whose database lost the tail of its log', () => {
  it('an older copy of D/db put back: refused at start with LOG_ROLLED_BACK, opened again once the record is removed', async () => {
    const nodeDir = join(await networkWithHistory('log-head-restore', 2), 'node-1')
    await cp(join(nodeDir, 'db'), join(nodeDir, 'db-backup'), { recursive: true })
    await appendReads(nodeDir, [1, 2, 3])
    await rm(join(nodeDir, 'db'), { recursive: true })
    await cp(join(nodeDir, 'db-backup'), join(nodeDir, 'db'), { recursive: true })

    // Nothing in the restored log shows what it lost; the head the node recorded does, to
    // `log verify` (HEAD_NOT_FOUND) as to the start.
    expect(await logVerify(nodeDir)).toMatchObject({
      status: 1,
      verdict: { ok: false, code: 'HEAD_NOT_FOUND' },
    })
    expect(await outcome(openLocalNode({ nodeId: 'node-1', dir: nodeDir }))).toBe('LOG_ROLLED_BACK')
    // The daemon's own open path passes the code on (not DB_UNREADABLE: the database is fine).
    expect(await outcome(openLocalAsDaemon(nodeDir))).toBe('LOG_ROLLED_BACK')

    await rm(join(nodeDir, 'log-head.json'))
    expect(await outcome(openLocalNode({ nodeId: 'node-1', dir: nodeDir }))).toBe('opened')
  })

  it('a truncated write-ahead log: refused at start with LOG_ROLLED_BACK', async () => {
    const nodeDir = join(await networkWithHistory('log-head-wal', 3), 'node-1')
    const db = join(nodeDir, 'db')
    // The last session's writes are still in LevelDB's write-ahead log (NNNNNN.log), the newest one.
    const logs = (await readdir(db)).filter((f) => /^\d+\.log$/.test(f)).sort()
    const wal = join(db, logs.at(-1)!)
    const size = (await stat(wal)).size
    expect(size).toBeGreaterThan(0)
    await truncate(wal, Math.floor(size / 2))
    expect(await outcome(openLocalNode({ nodeId: 'node-1', dir: nodeDir }))).toBe('LOG_ROLLED_BACK')
    // The record is what tells: without it LevelDB recovers what is left and the node opens on it.
    await rm(join(nodeDir, 'log-head.json'))
    expect(await outcome(openLocalNode({ nodeId: 'node-1', dir: nodeDir }))).toBe('opened')
  })
})
