import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dataPaths, initDataDir } from '../../src/daemon/data-dir.js'
import { devnetPaths, prepareDevnet } from '../../src/daemon/devnet-plan.js'
import { DEFAULT_INBOUND_LIMITS } from '../../src/net/libp2p-node.js'

/** prepareDevnet on its own (nothing is started): what a run on the same directory reuses or refuses. */

let root: string
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-devnet-plan-'))
})
afterAll(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true })
})

describe('prepareDevnet run again on its directory', () => {
  it('changes nothing: the same nodes, ports, snapshot and files', async () => {
    const dir = join(root, 'again')
    const first = await prepareDevnet({ dir, nodes: 3 })
    const files = async () =>
      Promise.all(
        [
          devnetPaths(dir).state,
          ...first.nodes.flatMap((n) => [dataPaths(n.dir).config, dataPaths(n.dir).snapshot]),
        ].map((p) => readFile(p, 'utf8')),
      )
    const before = await files()
    const second = await prepareDevnet({ dir })
    expect(second.created).toBe(false)
    expect(second.nodes).toEqual(first.nodes)
    expect(second.snapshot).toEqual(first.snapshot)
    expect(await files()).toEqual(before)
  })

  it('refuses another node count than the one it remembers, even given explicitly', async () => {
    const dir = join(root, 'count')
    await prepareDevnet({ dir, nodes: 3 })
    await expect(prepareDevnet({ dir, nodes: 4 })).rejects.toMatchObject({ code: 'INVALID_INPUT' })
  })

  it('refuses a node directory that holds another node than the one it remembers', async () => {
    const dir = join(root, 'swapped')
    await prepareDevnet({ dir, nodes: 3 })
    // Another node's whole identity in node-1's place (peer key, audit key, node.json).
    const other = await initDataDir(join(root, 'stranger'))
    const node1 = devnetPaths(dir).node(1)
    for (const f of ['peer-key', 'audit-key.json', 'node.json']) {
      await rm(join(node1, f))
      await cp(join(other.dir, f), join(node1, f), { mode: 0 })
    }
    const err = await prepareDevnet({ dir }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'INVALID_DATA_DIR' })
    expect((err as Error).message).toContain(other.nodeId)
  })

  it('refuses a devnet-state.json whose nodes are not node-1..N in order', async () => {
    const dir = join(root, 'state')
    await prepareDevnet({ dir, nodes: 3 })
    const state = JSON.parse(await readFile(devnetPaths(dir).state, 'utf8'))
    ;[state.nodes[0].name, state.nodes[1].name] = [state.nodes[1].name, state.nodes[0].name]
    await writeFile(devnetPaths(dir).state, JSON.stringify(state))
    await expect(prepareDevnet({ dir })).rejects.toMatchObject({ code: 'INVALID_DATA_DIR' })
  })
})

describe('prepareDevnet ports and config', () => {
  it('takes a base port whose last port is 65535, and refuses one past it', async () => {
    const plan = await prepareDevnet({ dir: join(root, 'top'), nodes: 3, basePort: 65530 })
    expect(plan.nodes.map((n) => [n.tcpPort, n.apiPort])).toEqual([
      [65530, 65531],
      [65532, 65533],
      [65534, 65535],
    ])
    await expect(prepareDevnet({ dir: join(root, 'past'), nodes: 3, basePort: 65531 })).rejects.toMatchObject(
      {
        code: 'INVALID_INPUT',
      },
    )
  })

  it('gives each node two more connections from 127.0.0.1 per other node than the default', async () => {
    const plan = await prepareDevnet({ dir: join(root, 'config'), nodes: 4 })
    for (const n of plan.nodes) {
      const config = JSON.parse(await readFile(dataPaths(n.dir).config, 'utf8'))
      expect(config.limits).toEqual({ max_inbound_connections_per_host: DEFAULT_INBOUND_LIMITS.perHost + 6 })
      expect(config.listen).toEqual([`/ip4/127.0.0.1/tcp/${n.tcpPort}`])
      expect(config.api).toEqual({ host: '127.0.0.1', port: n.apiPort })
    }
  })
})
