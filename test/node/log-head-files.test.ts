import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openLocalNode } from '../../src/node/local-node.js'
import { networkWithHistory, removeNetworks } from '../cli/node-dirs.js'
import { openOutcome } from './open-outcome.js'

afterAll(removeNetworks)

/**
 * The files around D/log-head.json on a node's own directory: what a writer killed half way leaves,
 * and that a start cleans it up.
 */

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
})
