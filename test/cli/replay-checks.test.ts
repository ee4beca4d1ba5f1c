import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openLogSublevels } from '../../src/log/log-store.js'
import { networkWithHistory, removeNetworks, withDb } from './node-dirs.js'
import { runCli } from './run.js'

afterAll(removeNetworks)

/** Edits the details of the node's first REPLICA_COMMIT with shards; answers its seq and a restore. */
async function editFirstCommit(nodeDir: string, edit: (details: Record<string, unknown>) => void) {
  return withDb(nodeDir, async (db) => {
    const { events } = openLogSublevels(db)
    for await (const [key, value] of events.iterator()) {
      const e = JSON.parse(value)
      if (e.event_type !== 'REPLICA_COMMIT' || e.details.shards.length === 0) continue
      edit(e.details)
      await events.put(key, JSON.stringify(e))
      return {
        seq: e.seq as number,
        restore: () => withDb(nodeDir, (d) => openLogSublevels(d).events.put(key, value)),
      }
    }
    throw new Error('no REPLICA_COMMIT with shards')
  })
}

describe('qfs-node replay on a damaged or misfiled log', () => {
  it('a damaged REPLICA_COMMIT is LOG_CORRUPT (exit 3) naming the entry, not INTERNAL or INVALID_INPUT', async () => {
    const nodeDir = join(await networkWithHistory('replay-damage', 2), 'node-1')
    expect((await runCli(['replay', '--dir', nodeDir])).status).toBe(0)
    const cases: Array<[string, (d: Record<string, unknown>) => void]> = [
      ['shards: [null]', (d) => void (d.shards = [null])],
      ['shard_id not hex', (d) => void ((d.shards as Array<Record<string, unknown>>)[0]!.shard_id = 'zz')],
      ['length a string', (d) => void ((d.shards as Array<Record<string, unknown>>)[0]!.length = '3')],
      ['unknown kind', (d) => void (d.kind = 'REWRITE')],
    ]
    for (const [name, edit] of cases) {
      const { seq, restore } = await editFirstCommit(nodeDir, edit)
      const r = await runCli(['replay', '--dir', nodeDir, '--json'])
      expect(r.stderr, name).toMatch(new RegExp(`^error \\[LOG_CORRUPT\\]: REPLICA_COMMIT entry ${seq} `))
      expect(r.stderr.split('\n').length, `${name}: one line, no stack`).toBe(2)
      expect(r.status, name).toBe(3)
      expect(r.stdout).toBe('')
      await restore()
    }
    expect((await runCli(['replay', '--dir', nodeDir])).status).toBe(0)
  })

  it("refuses a log whose entries name another node than the directory's node.json", async () => {
    const nodeDir = join(await networkWithHistory('replay-identity', 2), 'node-1')
    const nodeFile = join(nodeDir, 'node.json')
    const original = await readFile(nodeFile, 'utf8')
    await writeFile(nodeFile, original.replace('"node-1"', '"node-2"'))
    const r = await runCli(['replay', '--dir', nodeDir])
    expect(r.status).toBe(3)
    expect(r.stderr).toMatch(
      /^error \[LOG_IDENTITY_MISMATCH\]: the log replayed as node node-2 holds entry 0 of node node-1\n$/,
    )
    await writeFile(nodeFile, original)
    expect((await runCli(['replay', '--dir', nodeDir])).status).toBe(0)
  })
})
