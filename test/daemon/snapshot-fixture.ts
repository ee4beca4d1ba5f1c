import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { toHex } from '../../src/core/bytes.js'
import type { ProtocolParams } from '../../src/core/params.js'
import { type ConfigFlags, loadConfig, type NodeConfig } from '../../src/daemon/config.js'
import { type InitResult, initDataDir } from '../../src/daemon/data-dir.js'
import { createLogger, type Logger } from '../../src/daemon/logger.js'
import { reserveLoopbackPorts } from '../../src/daemon/loopback-ports.js'
import { generateAuditKey } from '../../src/log/keys.js'
import { createSnapshot, type EpochSnapshot, signSnapshot } from '../../src/membership/snapshot.js'
import type { NodeEntry } from '../../src/membership/types.js'

/** The authority every node of these tests trusts. */
export const authority = generateAuditKey(new Uint8Array(32).fill(9))

/** A loopback TCP port free when asked, below the ephemeral range as the devnet chooses its own. */
export async function freePort(): Promise<number> {
  const [port] = await reserveLoopbackPorts(1)
  return port!
}

export interface Member {
  id: InitResult
  port: number
  entry: NodeEntry
}

/** `n` initialised data directories with fixed loopback ports, so a snapshot names them before start. */
export async function members(label: string, n: number): Promise<{ root: string; members: Member[] }> {
  const root = await mkdtemp(join(tmpdir(), `qfs-${label}-`))
  const out: Member[] = []
  for (let i = 0; i < n; i++) {
    const id = await initDataDir(join(root, `n${i}`))
    const port = await freePort()
    out.push({
      id,
      port,
      entry: {
        node_id: id.nodeId,
        multiaddrs: [`/ip4/127.0.0.1/tcp/${port}/p2p/${id.nodeId}`],
        mldsa_public_key: id.auditPublicKey,
      },
    })
  }
  return { root, members: out }
}

export function signed(
  epoch: number,
  nodes: readonly NodeEntry[],
  opts: { params?: ProtocolParams; previous?: EpochSnapshot; startTick?: number } = {},
): EpochSnapshot {
  return signSnapshot(
    createSnapshot({
      epoch,
      startTick: opts.startTick ?? epoch * 100,
      nodes,
      params: opts.params,
      previous: opts.previous,
      authorityPublicKey: authority.publicKey,
    }),
    authority,
  )
}

export function configOf(m: Member, flags: ConfigFlags = {}): Promise<NodeConfig> {
  return loadConfig({
    dir: m.id.dir,
    env: {},
    flags: {
      listen: [`/ip4/127.0.0.1/tcp/${m.port}`],
      trusted_authorities: [toHex(authority.publicKey)],
      'limits.shutdown_timeout_ms': '3000',
      ...flags,
    },
  })
}

/** A logger whose lines the test reads back. */
export function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  return { logger: createLogger('info', (line) => lines.push(JSON.parse(line))), lines }
}

export async function removeRoot(root: string): Promise<void> {
  if (root !== '') await rm(root, { recursive: true, force: true })
}
