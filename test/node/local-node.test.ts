import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openLogSublevels, seqKey } from '../../src/log/log-store.js'
import { readNodeId } from '../../src/node/identity.js'
import { openLocalNode } from '../../src/node/local-node.js'
import { networkWithHistory, removeNetworks, withDb } from '../cli/node-dirs.js'
import { openLocalAsDaemon, openOutcome } from './open-outcome.js'

afterAll(removeNetworks)

const outcome = openOutcome

describe('openLocalNode on a directory it refuses', () => {
  it('releases the database when the log refuses to open, so a second open in the process succeeds', async () => {
    const nodeDir = join(await networkWithHistory('local-node-log', 2), 'node-1')
    // An uncovered entry that does not link: open() will not sign it.
    const bad = await withDb(nodeDir, async (db) => {
      const { events } = openLogSublevels(db)
      const [last] = await events.iterator({ reverse: true, limit: 1 }).all()
      const e = JSON.parse(last![1])
      const seq = e.seq + 1
      await events.put(seqKey(seq), JSON.stringify({ ...e, seq }))
      return seq
    })
    expect(await outcome(openLocalNode({ nodeId: 'node-1', dir: nodeDir }))).toBe('LOG_CORRUPT')
    // The same refusal again, not a lock held by the first attempt.
    expect(await outcome(openLocalNode({ nodeId: 'node-1', dir: nodeDir }))).toBe('LOG_CORRUPT')
    await withDb(nodeDir, (db) => openLogSublevels(db).events.del(seqKey(bad)))
    expect(await outcome(openLocalNode({ nodeId: 'node-1', dir: nodeDir }))).toBe('opened')
  })

  it('releases the database when the audit key file is refused', async () => {
    const nodeDir = join(await networkWithHistory('local-node-key', 1), 'node-1')
    const keyFile = join(nodeDir, 'audit-key.json')
    const original = await readFile(keyFile, 'utf8')
    await writeFile(keyFile, '{', { mode: 0o600 })
    expect(await outcome(openLocalNode({ nodeId: 'node-1', dir: nodeDir }))).toBe('INVALID_KEY_FILE')
    await writeFile(keyFile, original, { mode: 0o600 })
    expect(await outcome(openLocalNode({ nodeId: 'node-1', dir: nodeDir }))).toBe('opened')
  })
})

describe('openLocalNode on the directory of another node', () => {
  it('is refused (NOT_A_NODE_DIR) and leaves node.json naming its own node', async () => {
    const nodeDir = join(await networkWithHistory('local-node-other', 1), 'node-1')
    const before = await readFile(join(nodeDir, 'node.json'), 'utf8')
    expect(await outcome(openLocalNode({ nodeId: 'node-2', dir: nodeDir }))).toBe('NOT_A_NODE_DIR')
    expect(await readFile(join(nodeDir, 'node.json'), 'utf8')).toBe(before)
    expect(await outcome(openLocalNode({ nodeId: 'node-1', dir: nodeDir }))).toBe('opened')
  })

  it('is refused when node.json names no node (an empty node_id)', async () => {
    const nodeDir = join(await networkWithHistory('local-node-empty-id', 1), 'node-1')
    await writeFile(join(nodeDir, 'node.json'), `${JSON.stringify({ schema: 'qfs-node/1', node_id: '' })}\n`)
    await expect(readNodeId(nodeDir)).rejects.toMatchObject({ code: 'NOT_A_NODE_DIR' })
  })
})

describe('openLocal while the database is held', () => {
  it('is ALREADY_RUNNING: another node holds the directory', async () => {
    const nodeDir = join(await networkWithHistory('local-node-held', 1), 'node-1')
    const first = await openLocalNode({ nodeId: 'node-1', dir: nodeDir })
    try {
      const second = openLocalAsDaemon(nodeDir)
      await expect(second).rejects.toMatchObject({ code: 'ALREADY_RUNNING' })
    } finally {
      await first.close()
    }
  })
})
