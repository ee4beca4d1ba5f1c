import { stat, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { InvalidInputError } from '../core/errors.js'
import {
  type AuthorityKey,
  computeSnapshotHash,
  createSnapshot,
  type EpochSnapshot,
  signSnapshot,
  verifySnapshot,
} from '../membership/snapshot.js'
import type { NodeEntry } from '../membership/types.js'
import { DEFAULT_INBOUND_LIMITS } from '../net/libp2p-node.js'
import { createAuthorityKeyFile, readAuthorityKeyFile } from './authority-key.js'
import { dataPaths, initDataDir, processAlive, readJson, readRunInfo, writeAtomic } from './data-dir.js'
import { AlreadyRunningError, InvalidDataDirError } from './errors.js'
import { reserveLoopbackPorts } from './loopback-ports.js'
import { readSnapshotFile, writeSnapshotFile } from './snapshot-file.js'

export const DEVNET_STATE_SCHEMA = 'qfs-devnet-state/1'
export const MAX_DEVNET_NODES = 64
export const DEFAULT_DEVNET_NODES = 5

/** The files of a devnet directory. */
export function devnetPaths(dir: string) {
  return {
    dir,
    state: join(dir, 'devnet-state.json'),
    devnet: join(dir, 'devnet.json'),
    authorityKey: join(dir, 'aegis-authority.json'),
    authorityPublicKey: join(dir, 'aegis-authority.json.pub'),
    node: (index: number) => join(dir, `node-${index}`),
  }
}

/** What is remembered between runs: which directory is which node and on which loopback ports. */
export interface DevnetState {
  schema: typeof DEVNET_STATE_SCHEMA
  nodes: Array<{ name: string; node_id: string; tcp_port: number; api_port: number }>
}

/** One node of a prepared devnet: ready to be started with `qfs-node start --dir <dir>`. */
export interface PlannedNode {
  index: number
  name: string
  dir: string
  nodeId: string
  tcpPort: number
  apiPort: number
  multiaddr: string
  logPath: string
}

export interface DevnetPlan {
  dir: string
  nodes: PlannedNode[]
  snapshot: EpochSnapshot
  /** True when this run created the network (first run on the directory). */
  created: boolean
}

export interface PrepareInit {
  dir: string
  /** Default: the remembered count, else 5. A different count than remembered is refused. */
  nodes?: number
  /** Node i (1-based) listens on `basePort + 2(i-1)` and serves its API one port above. */
  basePort?: number
  logLevel?: string
}

/**
 * Creates or reuses everything a local network needs before any process starts: a data directory
 * per node (`init`), the AEGIS authority key (0600), fixed loopback ports (chosen once, remembered in
 * `devnet-state.json`), each node's `config.json` (listen address, API port, the trusted authority)
 * and the signed epoch snapshot in every node's directory. A run with the same inputs changes
 * nothing on disk; new ports make a new snapshot that follows the previous one (epoch + 1).
 */
export async function prepareDevnet(init: PrepareInit): Promise<DevnetPlan> {
  const paths = devnetPaths(init.dir)
  const previous = await readState(paths.state)
  await refuseBusyDirectory(init.dir)
  const count = init.nodes ?? previous?.nodes.length ?? DEFAULT_DEVNET_NODES
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_DEVNET_NODES) {
    throw new InvalidInputError(`--nodes must be in 1..${MAX_DEVNET_NODES}`)
  }
  if (previous !== undefined && previous.nodes.length !== count) {
    throw new InvalidInputError(
      `${init.dir} holds a devnet of ${previous.nodes.length} nodes; use --nodes ${previous.nodes.length} or another --dir`,
    )
  }
  if (init.basePort !== undefined) {
    if (
      !Number.isSafeInteger(init.basePort) ||
      init.basePort < 1024 ||
      init.basePort + 2 * count - 1 > 65535
    ) {
      throw new InvalidInputError(`--base-port must leave room for ${2 * count} ports in 1024..65535`)
    }
  }
  const created = previous === undefined
  const identities = []
  // A remembered node whose identity is gone is refused before any directory is touched: made anew,
  // it would be another node, which the snapshot does not list and whose peers hold nothing for it.
  for (const [i, remembered] of (previous?.nodes ?? []).entries()) {
    const dir = paths.node(i + 1)
    // The peer key is the identity (init makes node.json again from it).
    const held = await stat(dataPaths(dir).peerKey).then(
      () => true,
      () => false,
    )
    if (!held) {
      throw new InvalidDataDirError(
        `${dir} no longer holds ${remembered.name} (${remembered.node_id}), which ${paths.state} remembers: restore that directory, or start a new devnet with another --dir`,
      )
    }
  }
  for (let i = 1; i <= count; i++) {
    const id = await initDataDir(paths.node(i))
    const remembered = previous?.nodes[i - 1]
    if (remembered !== undefined && remembered.node_id !== id.nodeId) {
      throw new InvalidDataDirError(
        `${paths.node(i)} holds ${id.nodeId}, ${paths.state} remembers ${remembered.node_id}: restore that directory, or start a new devnet with another --dir`,
      )
    }
    identities.push(id)
  }
  const ports = await choosePorts(count, init.basePort, previous)
  const state: DevnetState = {
    schema: DEVNET_STATE_SCHEMA,
    nodes: identities.map((id, i) => ({
      name: `node-${i + 1}`,
      node_id: id.nodeId,
      tcp_port: ports[i]!.tcp,
      api_port: ports[i]!.api,
    })),
  }
  await writeAtomic(paths.state, `${JSON.stringify(state, null, 2)}\n`, 0o644)

  const authority = await authorityKey(paths.authorityKey)
  const entries: NodeEntry[] = identities.map((id, i) => ({
    node_id: id.nodeId,
    multiaddrs: [loopbackAddr(ports[i]!.tcp)],
    mldsa_public_key: id.auditPublicKey,
  }))
  const nodes: PlannedNode[] = identities.map((id, i) => ({
    index: i + 1,
    name: `node-${i + 1}`,
    dir: paths.node(i + 1),
    nodeId: id.nodeId,
    tcpPort: ports[i]!.tcp,
    apiPort: ports[i]!.api,
    multiaddr: loopbackAddr(ports[i]!.tcp),
    logPath: join(paths.node(i + 1), 'node.log'),
  }))
  const snapshot = await snapshotFor(nodes, entries, authority)
  for (const node of nodes) {
    await writeNodeConfig(node, paths.authorityPublicKey, init.logLevel ?? 'info', nodes.length)
    await writeSnapshotFile(dataPaths(node.dir).snapshot, snapshot)
  }
  return { dir: init.dir, nodes, snapshot, created }
}

/**
 * Refuses, before anything is written, a directory a devnet must not take over: a node's own data
 * directory (node.json in D itself: node-1..N would be created inside it), and a devnet whose
 * daemons still run (a run.json in D/node-<i> whose pid is alive, the check `status` makes). A second
 * devnet there would rewrite the live nodes' config.json and snapshot.json, then fail on their ports.
 * A run.json left by a daemon that was killed names a dead pid and does not count.
 */
async function refuseBusyDirectory(dir: string): Promise<void> {
  if (await exists(dataPaths(dir).node)) {
    const run = await readRunInfo(dir).catch(() => undefined)
    const running = run !== undefined && processAlive(run.pid) ? ` (a node runs there, pid ${run.pid})` : ''
    throw new InvalidInputError(
      `${dir} is a node's data directory${running}, not a devnet directory: give the devnet a directory of its own`,
    )
  }
  const live: string[] = []
  for (let i = 1; i <= MAX_DEVNET_NODES; i++) {
    const nodeDir = devnetPaths(dir).node(i)
    if (!(await exists(nodeDir))) break
    // A run.json that does not parse proves nothing; the daemon's start replaces it.
    const run = await readRunInfo(nodeDir).catch(() => undefined)
    if (run !== undefined && processAlive(run.pid)) live.push(`node-${i} pid ${run.pid}`)
  }
  if (live.length > 0) {
    throw new AlreadyRunningError(
      `a devnet is already running in ${dir} (${live.join(', ')}): stop it first (Ctrl-C where it runs) or give another --dir; if no qfs-node has these pids, a crash left their run.json behind: delete it`,
    )
  }
}

/** Whether `path` exists; under a file (ENOTDIR) it does not, and later steps report that in their words. */
async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return false
    throw err
  }
}

function loopbackAddr(port: number): string {
  return `/ip4/127.0.0.1/tcp/${port}`
}

async function readState(path: string): Promise<DevnetState | undefined> {
  const value = await readJson(path)
  if (value === undefined) return undefined
  const v = value as Partial<DevnetState> | null
  const port = (p: unknown) => Number.isSafeInteger(p) && (p as number) >= 1 && (p as number) <= 65535
  const ok =
    v !== null &&
    typeof v === 'object' &&
    v.schema === DEVNET_STATE_SCHEMA &&
    Array.isArray(v.nodes) &&
    v.nodes.length >= 1 &&
    v.nodes.length <= MAX_DEVNET_NODES &&
    v.nodes.every(
      (n, i) =>
        n !== null &&
        typeof n === 'object' &&
        n.name === `node-${i + 1}` &&
        typeof n.node_id === 'string' &&
        port(n.tcp_port) &&
        port(n.api_port),
    )
  if (!ok) throw new InvalidDataDirError(`${path} is not a ${DEVNET_STATE_SCHEMA} file`)
  return v as DevnetState
}

/**
 * Explicit ports from `basePort`; else the remembered ones; else free ones below the ephemeral range,
 * where no outbound connection can take one before its daemon binds it (loopback-ports.ts).
 */
async function choosePorts(
  count: number,
  basePort: number | undefined,
  previous: DevnetState | undefined,
): Promise<Array<{ tcp: number; api: number }>> {
  if (basePort !== undefined) {
    return Array.from({ length: count }, (_, i) => ({ tcp: basePort + 2 * i, api: basePort + 2 * i + 1 }))
  }
  if (previous !== undefined) return previous.nodes.map((n) => ({ tcp: n.tcp_port, api: n.api_port }))
  const ports = await reserveLoopbackPorts(2 * count)
  return Array.from({ length: count }, (_, i) => ({ tcp: ports[2 * i]!, api: ports[2 * i + 1]! }))
}

async function authorityKey(path: string): Promise<AuthorityKey> {
  try {
    await stat(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    return (await createAuthorityKeyFile(path)).key
  }
  return readAuthorityKeyFile(path)
}

/** The first epoch of a new devnet, as `aegis sign --epoch 0` and docs/operations.md start a network. */
export const FIRST_DEVNET_EPOCH = 0

/**
 * The snapshot every node already holds when it still lists exactly these nodes; otherwise a new one,
 * signed, following the held one (epoch + 1) so a node that saw the old one accepts the new. A new
 * devnet starts at FIRST_DEVNET_EPOCH; one created before (whose chain began at epoch 1) keeps its
 * snapshot and its numbering, since the held snapshot is compared as it is.
 */
async function snapshotFor(
  nodes: PlannedNode[],
  entries: NodeEntry[],
  key: AuthorityKey,
): Promise<EpochSnapshot> {
  const held = await heldSnapshot(nodes[0]!.dir, key)
  const body = createSnapshot({
    epoch: held === undefined ? FIRST_DEVNET_EPOCH : held.epoch,
    startTick: held === undefined ? 0 : held.start_tick,
    nodes: entries,
    authorityPublicKey: key.publicKey,
    // The held snapshot's own link (the genesis value for the first of a chain), whatever its epoch.
    previous: held === undefined ? undefined : { snapshot_hash: held.prev_snapshot_hash },
  })
  if (held !== undefined && computeSnapshotHash(body) === held.snapshot_hash) return held
  if (held === undefined) return signSnapshot(body, key)
  const next = createSnapshot({
    epoch: held.epoch + 1,
    startTick: held.start_tick + 1,
    nodes: entries,
    authorityPublicKey: key.publicKey,
    previous: held,
  })
  return signSnapshot(next, key)
}

async function heldSnapshot(dir: string, key: AuthorityKey): Promise<EpochSnapshot | undefined> {
  const value = await readSnapshotFile(dataPaths(dir).snapshot).catch(() => undefined)
  if (value === undefined) return undefined
  const verdict = verifySnapshot(value, [key.publicKey])
  return verdict.ok ? verdict.snapshot : undefined
}

/**
 * The node's `config.json`, owned by the devnet: its fixed loopback addresses and the devnet's
 * authority as the one trusted key (by file, relative to the config file, so the directory can move).
 * Every peer and every client of a devnet is the one address 127.0.0.1, so the per-address
 * connection cap leaves room for two connections from each other node on top of its default.
 */
async function writeNodeConfig(
  node: PlannedNode,
  authorityPublicKey: string,
  logLevel: string,
  nodeCount: number,
): Promise<void> {
  const config = {
    listen: [node.multiaddr],
    api: { host: '127.0.0.1', port: node.apiPort },
    trusted_authorities: [relative(node.dir, authorityPublicKey)],
    log_level: logLevel,
    limits: { max_inbound_connections_per_host: DEFAULT_INBOUND_LIMITS.perHost + 2 * (nodeCount - 1) },
  }
  await writeFile(dataPaths(node.dir).config, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o644 })
}
