import { execFile } from 'node:child_process'
import { copyFile, cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { openLocalNode } from '../../src/node/local-node.js'
import { networkWithHistory, removeNetworks } from '../cli/node-dirs.js'
import { runCli } from '../cli/run.js'
import { openOutcome } from './open-outcome.js'

afterAll(removeNetworks)

/**
 * The files around D/log-head.json on a node's own directory: what a writer killed half way leaves,
 * what the commands an operator runs on a stopped node do to it, and the copies operators make.
 */

/** The record's bytes and modification time: what a write would change. */
async function snapshotOf(path: string) {
  return { text: await readFile(path, 'utf8'), mtimeNs: (await stat(path, { bigint: true })).mtimeNs }
}

describe('D/log-head.json and its temporary files', () => {
  it('a start removes the temporary files a writer killed during the head write left behind', async () => {
    const nodeDir = join(await networkWithHistory('log-head-tmp', 1), 'node-1')
    // What a SIGKILL between the temporary file's creation and its rename leaves (the name is the
    // writer's pid and 6 random bytes): a kill/reopen loop of 60 cycles left 7 of them in D.
    const stale = ['log-head.json.4242.0123456789ab.tmp', 'log-head.json.77.a1b2c3d4e5f6.tmp']
    for (const name of stale)
      await writeFile(join(nodeDir, name), '{"schema":"qfs-log-head/1"', { mode: 0o600 })
    // Not ours: a file an operator named alike, which the start leaves alone.
    await writeFile(join(nodeDir, 'log-head.json.bak'), 'kept')

    expect(await openOutcome(openLocalNode({ nodeId: 'node-1', dir: nodeDir }))).toBe('opened')
    const files = (await readdir(nodeDir)).filter((f) => f.startsWith('log-head.json')).sort()
    expect(files).toEqual(['log-head.json', 'log-head.json.bak'])
  })

  it('the offline commands (log verify, replay, scrub) neither write the record nor create one', async () => {
    const network = await networkWithHistory('log-head-offline', 2)
    const nodeDir = join(network, 'node-1')
    const path = join(nodeDir, 'log-head.json')
    const before = await snapshotOf(path)
    // A killed write's leftover: the offline commands examine the directory as it is, so it stays.
    const stale = 'log-head.json.4242.0123456789ab.tmp'
    await writeFile(join(nodeDir, stale), '{', { mode: 0o600 })
    // The node's next start must find the record as the node left it, not one an offline command
    // rewrote (a rewrite after a cut would hide the cut from the start).
    for (const args of [['log', 'verify'], ['replay'], ['scrub']]) {
      expect((await runCli([...args, '--dir', nodeDir, '--json'])).status).toBe(0)
      expect(await snapshotOf(path)).toEqual(before)
      expect((await readdir(nodeDir)).includes(stale)).toBe(true)
    }
    // A node without a record (one from before it) gets none from them either.
    const bare = join(network, 'node-2')
    await rm(join(bare, 'log-head.json'))
    for (const args of [['log', 'verify'], ['replay'], ['scrub']]) {
      expect((await runCli([...args, '--dir', bare, '--json'])).status).toBe(0)
    }
    expect((await readdir(bare)).filter((f) => f.startsWith('log-head.json'))).toEqual([])
  })

  it('a stopped node`s whole directory copied with cp -a, or moved, opens as itself', async () => {
    const network = await networkWithHistory('log-head-copy', 2)
    const nodeDir = join(network, 'node-1')
    const recorded = JSON.parse(await readFile(join(nodeDir, 'log-head.json'), 'utf8'))
    const copy = join(network, 'node-1-copy')
    await promisify(execFile)('cp', ['-a', nodeDir, copy])
    const moved = join(network, 'node-1-moved')
    await rename(nodeDir, moved)
    for (const dir of [copy, moved]) {
      const node = await openLocalNode({ nodeId: 'node-1', dir })
      // The copy holds the checkpoint its record names: the same id, at the same entry.
      expect(node.log.head().last_checkpoint_id).toBe(recorded.checkpoint_id)
      expect(node.log.head().covered_entries).toBe(recorded.last_seq + 1)
      await node.close()
    }
  })

  it('init on a directory that already holds a node leaves its record, and the node opens', async () => {
    const network = await networkWithHistory('log-head-init', 1)
    const dir = join(network, 'node-fresh')
    const init = JSON.parse((await runCli(['init', '--dir', dir, '--json'])).stdout)
    const node = await openLocalNode({ nodeId: init.node_id, dir })
    await node.log.append({ event_type: 'READ', epoch: 0, timestamp_tick: 1 })
    await node.close()
    const before = await snapshotOf(join(dir, 'log-head.json'))
    const again = await runCli(['init', '--dir', dir, '--json'])
    expect(JSON.parse(again.stdout)).toMatchObject({ created: false, node_id: init.node_id })
    expect(await snapshotOf(join(dir, 'log-head.json'))).toEqual(before)
    expect(await openOutcome(openLocalNode({ nodeId: init.node_id, dir }))).toBe('opened')
  })

  it('a copy of a running node opens when it took log-head.json before db, and is refused when after', async () => {
    const network = await networkWithHistory('log-head-hot-copy', 1)
    const nodeDir = join(network, 'node-1')
    const headFirst = join(network, 'copy-head-first')
    const dbFirst = join(network, 'copy-db-first')
    for (const copy of [headFirst, dbFirst]) {
      await mkdir(copy)
      for (const f of ['node.json', 'audit-key.json']) await copyFile(join(nodeDir, f), join(copy, f))
    }
    const node = await openLocalNode({ nodeId: 'node-1', dir: nodeDir })
    const read = (tick: number) => node.log.append({ event_type: 'READ', epoch: 0, timestamp_tick: tick })
    await read(1)
    await node.log.flush()
    // Each copy is taken in two steps while the node goes on signing between them, as a cp of a
    // running node's directory is: the order of the two files decides what the copy holds.
    await copyFile(join(nodeDir, 'log-head.json'), join(headFirst, 'log-head.json'))
    await cp(join(nodeDir, 'db'), join(dbFirst, 'db'), { recursive: true })
    await read(2)
    await node.log.flush()
    await cp(join(nodeDir, 'db'), join(headFirst, 'db'), { recursive: true })
    await copyFile(join(nodeDir, 'log-head.json'), join(dbFirst, 'log-head.json'))
    await node.close()

    expect(await openOutcome(openLocalNode({ nodeId: 'node-1', dir: headFirst }))).toBe('opened')
    expect(await openOutcome(openLocalNode({ nodeId: 'node-1', dir: dbFirst }))).toBe('LOG_ROLLED_BACK')
  })
})
