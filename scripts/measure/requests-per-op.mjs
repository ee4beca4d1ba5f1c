// Requests each daemon of a 5-node devnet serves per 4 KiB put (through node-1) and per get of the
// same objects (through node-2), from the daemons' own `qfs_requests_total` (scraped from their
// operator API before and after), by node, operation and outcome. One JSON line.
//
//   npm run build && node scripts/measure/requests-per-op.mjs     (through npx node on Node 20 machines)
//
// OPS (default 100) puts and as many gets.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { objectId } from '../../dist/core/ids.js'
import { Devnet } from '../../dist/daemon/devnet.js'
import { createQfsLibp2p } from '../../dist/net/libp2p-node.js'
import { QfsClient } from '../../dist/sdk/client.js'

const ops = Number(process.env.OPS ?? 100)
const COUNTER = 'qfs_requests_total'

const work = await mkdtemp(join(tmpdir(), 'requests-per-op-'))
const devnet = await Devnet.start({ dir: join(work, 'devnet'), nodes: 5, logLevel: 'warn' })
const scrape = async () => {
  const counts = new Map()
  for (const [i, node] of devnet.nodes.entries()) {
    const text = await (await fetch(`${node.api}/metrics`)).text()
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${COUNTER}{`)) continue
      const [series, value] = line.split(' ')
      counts.set(`node-${i + 1} ${series.slice(COUNTER.length)}`, Number(value))
    }
  }
  return counts
}
const perOp = (before, after) =>
  Object.fromEntries(
    [...after]
      .map(([k, v]) => [k, Number(((v - (before.get(k) ?? 0)) / ops).toFixed(2))])
      .filter(([, v]) => v > 0),
  )
try {
  const libp2p = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
  const writer = await QfsClient.create({ node: devnet.nodes[0].multiaddrs[0], libp2p })
  const reader = await QfsClient.create({ node: devnet.nodes[1].multiaddrs[0], libp2p })
  const metadata = { author_node_id: 'requests-per-op', created_at_tick: 1 }
  const ids = Array.from({ length: ops }, (_, i) => objectId('requests-per-op', `${i}`))
  const ok = (answer) => {
    if (!answer.ok) throw new Error(`${answer.code}: ${answer.error_detail}`)
  }
  const start = await scrape()
  for (const [i, id] of ids.entries())
    ok(await writer.putContent(id, 1, new Uint8Array(4096).fill(i & 255), metadata))
  const put = await scrape()
  for (const id of ids) ok(await reader.getContent(id, 1))
  const get = await scrape()
  console.log(JSON.stringify({ ops, per_put: perOp(start, put), per_get: perOp(put, get) }))
  await writer.close()
  await reader.close()
  await libp2p.stop()
} finally {
  await devnet.stop()
  await rm(work, { recursive: true, force: true })
}
