import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openLogSublevels, seqKey } from '../../src/log/log-store.js'
import { openLocalNode } from '../../src/node/local-node.js'
import { networkWithHistory, removeNetworks, withDb } from '../cli/node-dirs.js'

afterAll(removeNetworks)

const outcome = (p: Promise<{ close(): Promise<void> }>) =>
  p.then(
    async (node) => {
      await node.close()
      return 'opened'
    },
    (err: { code?: string }) => err.code ?? String(err),
  )

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
