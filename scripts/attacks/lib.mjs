// Shared helpers for scripts/attacks: raw libp2p peers (fresh or with a devnet node's key), push frames,
// daemon probes (/proc, /metrics, /v1/status) and an offline replica check on stopped node dbs.
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { shardId } from '../../dist/core/ids.js'
import { DAEMON_NODE_ARGS } from '../../dist/daemon/devnet.js'
import {
  encodeDataFrame,
  encodeEndFrame,
  encodeJsonFrame,
  encodeKeepAliveFrame,
  FrameDecoder,
  frameBytes,
} from '../../dist/net/frames.js'
import { createQfsLibp2p } from '../../dist/net/libp2p-node.js'

export { log, meta, objectId, QfsClient, randomBytes, sleep, startDevnet } from './devnet.mjs'

import { startDevnet as startPlainDevnet } from './devnet.mjs'

export const P = (op, v = '1.0.0') => `/qfs/storage/${op}/${v}`
export const KA = Buffer.from(frameBytes(encodeKeepAliveFrame()))
export const jsonFrame = (obj) => Buffer.from(frameBytes(encodeJsonFrame(obj)))
export const dataFrame = (bytes) => Buffer.from(frameBytes(encodeDataFrame(bytes)))
export const endFrame = () => Buffer.from(frameBytes(encodeEndFrame()))
export const BLOCK = 262144

export async function peerWithKey(nodeDir) {
  const privateKey = nodeDir
    ? privateKeyFromProtobuf(readFileSync(join(nodeDir, 'peer-key')))
    : await generateKeyPair('Ed25519')
  return createQfsLibp2p({ privateKey, listen: [] })
}
export function pushHeader(oid, length, version = 1, index = 0) {
  return {
    object_id: oid,
    version,
    shard_index: index,
    shard_id: shardId(oid, version, index),
    length,
    block_size_bytes: BLOCK,
  }
}
/** Opens a stream and records every frame the server sends and how/when the stream ended. */
export async function open(peer, node, proto) {
  const t0 = performance.now()
  const stream = await peer.dialProtocol(multiaddr(node.multiaddrs[0]), proto, {
    signal: AbortSignal.timeout(10000),
  })
  const dec = new FrameDecoder()
  const st = { stream, frames: [], ended: undefined, endedAt: undefined, t0 }
  const end = (how) => {
    if (st.ended === undefined) {
      st.ended = how
      st.endedAt = performance.now() - t0
    }
  }
  stream.addEventListener('message', (e) => {
    try {
      for (const f of dec.push(e.data))
        st.frames.push(
          f.type === 'error'
            ? `ERROR:${f.error.code}`
            : f.type === 'json'
              ? `JSON:${JSON.stringify(f.value).slice(0, 120)}`
              : f.type,
        )
    } catch (x) {
      st.frames.push(`decode:${x.code}`)
    }
  })
  stream.addEventListener('remoteCloseWrite', () => {
    st.fin ??= performance.now() - t0
  })
  stream.addEventListener('close', (e) => end(e.error ? `reset(${e.error.name})` : 'closed'))
  st.send = (buf) => {
    try {
      return stream.send(buf)
    } catch {
      return false
    }
  }
  return st
}
export function status(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8')
    const g = (k) => Number(s.match(new RegExp(`${k}:\\s+(\\d+)`))?.[1] ?? -1)
    return { rss: g('VmRSS'), anon: g('RssAnon'), threads: g('Threads') }
  } catch {
    return { rss: -1, anon: -1 }
  }
}
export function cpuTicks(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return Number(f[11]) + Number(f[12])
  } catch {
    return -1
  }
}
export function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return -1
  }
}
export function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
export async function metrics(
  node,
  re = /^(qfs_|nodejs_external|nodejs_heap_size_used|nodejs_active_handles_total|nodejs_active_resources|libp2p_protocol_streams)/,
) {
  try {
    const t = await (await fetch(node.api + '/metrics', { signal: AbortSignal.timeout(5000) })).text()
    return t.split('\n').filter((l) => re.test(l))
  } catch (e) {
    return [`metrics error ${e.cause?.code ?? e.name}`]
  }
}
export async function metricSum(node, prefix) {
  let sum = 0
  for (const l of await metrics(node, new RegExp(`^${prefix}[ {]`))) sum += Number(l.split(' ').at(-1))
  return sum
}
export async function storeStatus(node) {
  try {
    return (await (await fetch(node.api + '/v1/status', { signal: AbortSignal.timeout(5000) })).json()).store
  } catch (e) {
    return { error: e.cause?.code ?? e.name }
  }
}
/** Offline: each replica named in `shards` ([{shard_id, merkle_root, replicas}]) holds a committed manifest with that root. */
export async function offlineCheck(nodes, shards) {
  const { openNodeDb, storeSublevels } = await import('../../dist/store/index.js')
  const { decodeManifest } = await import('../../dist/store/manifest.js')
  const out = { missing: [], staged: {} }
  for (const n of nodes) {
    const db = await openNodeDb(join(n.dir, 'db'))
    const subs = storeSublevels(db)
    for (const s of shards) {
      if (!s.replicas.includes(n.node_id)) continue
      const m = await subs.manifests.get(Buffer.from(s.shard_id, 'hex'))
      const root = m === undefined ? null : decodeManifest(m).merkleRoot
      if (m === undefined) out.missing.push(`${n.node_id.slice(-4)}:${s.shard_id.slice(0, 8)}`)
      else if (s.merkle_root && root && root !== s.merkle_root)
        out.missing.push(`${n.node_id.slice(-4)}:${s.shard_id.slice(0, 8)} root ${root.slice(0, 8)}`)
    }
    let staged = 0
    for await (const _ of subs.staging.keys()) staged++
    out.staged[n.node_id.slice(-4)] = staged
    await db.close()
  }
  return out
}
/** Removes a devnet directory left by an earlier run (startDevnet reuses an existing one, db included). */
export function fresh(dir) {
  rmSync(dir, { recursive: true, force: true })
  return dir
}

/**
 * A devnet whose daemons run as the devnet starts them, plus --expose-gc and trace-any.mjs (which
 * records every AbortSignal.any result), stopped when this process exits.
 */
export async function startTracedDevnet(dir) {
  const nodeArgs = [
    ...DAEMON_NODE_ARGS,
    '--expose-gc',
    '--import',
    new URL('./trace-any.mjs', import.meta.url).pathname,
  ]
  const devnet = await startPlainDevnet(fresh(dir), {}, { logLevel: 'warn', nodeArgs })
  process.on('exit', () => devnet.killAllNow())
  return devnet
}
