import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { objectId } from '../../dist/core/ids.js'
import { Devnet } from '../../dist/daemon/devnet.js'
import { QfsClient } from '../../dist/sdk/index.js'

export { Devnet, objectId, QfsClient, randomBytes }
export const meta = { author_node_id: 'faults', created_at_tick: 1 }
export const sha = (b) => createHash('sha256').update(b).digest('hex').slice(0, 16)
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
export const t0 = Date.now()
export const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a)
export async function startDevnet(dir, limits = {}, extra = {}) {
  const d = await Devnet.prepare({ dir, nodes: 5, logLevel: 'info', ...extra })
  for (const n of d.plan.nodes) {
    const p = join(n.dir, 'config.json')
    const c = JSON.parse(readFileSync(p, 'utf8'))
    c.limits = { ...(c.limits ?? {}), ...limits }
    writeFileSync(p, JSON.stringify(c, null, 2))
  }
  await d.launchAll()
  return d
}
export async function api(node, path) {
  try {
    const r = await fetch(node.api + path, { signal: AbortSignal.timeout(3000) })
    return { status: r.status, body: await r.json().catch(() => null) }
  } catch (e) {
    return { error: String(e.cause?.code ?? e.name) }
  }
}
export async function brief(devnet) {
  const out = []
  for (let i = 1; i <= devnet.plan.nodes.length; i++) {
    if (!devnet.running(i)) {
      out.push(`n${i}:DOWN`)
      continue
    }
    const info = devnet.nodes[i - 1]
    const rz = await api(info, '/readyz')
    const st = await api(info, '/v1/status')
    out.push(
      `n${i}: readyz=${rz.status ?? rz.error} peers=${st.body?.peers} store=${JSON.stringify(st.body?.store)} log=${st.body?.log?.entries} rss=${rss(info.pid)}`,
    )
  }
  return out.join('\n')
}
export function rss(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)
    return `${(Number(m[1]) / 1024).toFixed(0)}M`
  } catch {
    return '?'
  }
}
export const short = (r) =>
  JSON.stringify(r, (_k, v) => (v instanceof Uint8Array ? `<${v.length}B ${sha(v)}>` : v)).slice(0, 400)
