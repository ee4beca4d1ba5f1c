import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import { Devnet } from '../../src/daemon/devnet.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { QfsClient } from '../../src/sdk/index.js'

export interface DevnetWithClients {
  dir: string
  devnet: Devnet
  /** The one client-side libp2p node (no listen address) every client dials from. */
  libp2p: Libp2p
}

/**
 * Five `qfs-node start` daemons of the compiled dist (as a user runs them) in a fresh directory named
 * from `prefix`, and a QfsClient of each in `clients`, by node id. Run after `npm run build`.
 */
export async function startDevnetWithClients(
  prefix: string,
  clients: Map<string, QfsClient>,
  /** Extra environment for the daemons (settings as QFS_* variables, docs/operations.md). */
  env?: Record<string, string>,
): Promise<DevnetWithClients> {
  if (!existsSync(new URL('../../dist/cli/main.js', import.meta.url))) {
    throw new Error('the daemons run the compiled CLI: run `npm run build` first (npm test does)')
  }
  const dir = await mkdtemp(join(tmpdir(), prefix))
  const devnet = await Devnet.start({
    dir,
    nodes: 5,
    logLevel: 'warn',
    startTimeoutMs: 60_000,
    stopTimeoutMs: 10_000,
    env,
  })
  const libp2p = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
  for (const n of devnet.nodes) {
    clients.set(n.node_id, await QfsClient.create({ node: n.multiaddrs[0]!, libp2p }))
  }
  return { dir, devnet, libp2p }
}

/** Closes the clients and their libp2p node, stops the devnet, and removes its directory unless `keep`. */
export async function stopDevnetWithClients(
  started: Partial<DevnetWithClients>,
  clients: Map<string, QfsClient>,
  keep = false,
): Promise<void> {
  for (const c of clients.values()) await c.close()
  await started.libp2p?.stop()
  await started.devnet?.stop()
  if (started.dir !== undefined && !keep) await rm(started.dir, { recursive: true, force: true })
}
