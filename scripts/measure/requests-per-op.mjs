// Requests each daemon of a 5-node devnet serves per 4 KiB put (through node-1) and per get of the
// same objects (through node-2), from the daemons' own `qfs_requests_total` (scraped from their
// operator API before and after), by node, operation and outcome. One JSON line.
//
//   npm run build && node scripts/measure/requests-per-op.mjs     (through npx node on Node 20 machines)
//
// OPS (default 100) puts and as many gets.
import { objectId } from '../../dist/core/ids.js'
import { withDevnetClients } from './devnet-clients.mjs'

const ops = Number(process.env.OPS ?? 100)
const COUNTER = 'qfs_requests_total'

await withDevnetClients('requests-per-op', undefined, async ({ devnet, writer, reader }) => {
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
})
