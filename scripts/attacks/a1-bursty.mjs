// Bursty public writes (SDK) against a 5-node devnet with a short idle timeout: FAST bytes at full
// speed, then TRICKLE bytes every TICK ms for STALL ms (inside one 256 KiB block), then the rest.
// Each scenario: answer, under_replicated, read back through every node, staged counts; at the end the
// devnet is stopped and every replica's db is checked offline for a committed manifest of each shard.
// Usage: npx node scripts/attacks/a1-bursty.mjs [scenario...]   env IDLE (2000), REQ (request timeout ms),
//   GRACE (write_min_deadline_ms), WMIN (write_min_bytes_per_second)
import { createHash } from 'node:crypto'
import {
  fresh,
  log,
  meta,
  metrics,
  objectId,
  offlineCheck,
  QfsClient,
  randomBytes,
  sleep,
  startDevnet,
  status,
  storeStatus,
} from './lib.mjs'

const IDLE = Number(process.env.IDLE ?? 2000)
const limits = { idle_timeout_ms: IDLE }
if (process.env.REQ) limits.request_timeout_ms = Number(process.env.REQ)
if (process.env.GRACE) limits.write_min_deadline_ms = Number(process.env.GRACE)
if (process.env.WMIN) limits.write_min_bytes_per_second = Number(process.env.WMIN)
const KiB = 1024,
  MiB = 1024 * 1024
// name: [size, fast, stallMs, trickle, tickMs]
const SCEN = {
  // stall of 5 idle timeouts in the middle of shard 0's 7th block
  mid: [8 * MiB, 1.5 * MiB + 1000, 5 * IDLE, KiB, 300],
  // stall at a shard boundary (shard 0 complete, shard 1 not opened): 5 idle timeouts, then the rest
  edge: [8 * MiB, 2 * MiB, 5 * IDLE, KiB, 300],
  // stall inside the first block: no push is open yet
  first: [8 * MiB, 1000, 5 * IDLE, KiB, 300],
  // stall in the last block of the last shard
  last: [8 * MiB, 8 * MiB - 100 * KiB, 5 * IDLE, KiB, 300],
  // a client well within the write-min rule (60 s grace + 64 s earned by 4 MiB) that stalls 35 idle timeouts inside a block
  long: [8 * MiB, 4 * MiB + 1000, 35 * IDLE, KiB, 300],
  // stall in shard 0's last block while shard 1's pushes are opened ahead (needs WMIN=1048576 so the window is 768 KiB)
  ahead: [8 * MiB, 2 * MiB - 100 * KiB, 5 * IDLE, KiB, 300],
  // complete silence (no trickle) for 0.8 idle timeouts, 6 times in different blocks
  gaps: [8 * MiB, 0, 0, 0, 0],
}
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : ['mid', 'edge', 'first', 'last']
const devnet = await startDevnet(fresh(process.env.DIR ?? '/tmp/qfs-adv2-a1'), limits, { logLevel: 'warn' })
process.on('exit', () => devnet.killAllNow())
const nodes = devnet.nodes
log('devnet up', JSON.stringify(limits), nodes.map((n) => n.pid).join(' '))
const allShards = []
const results = []
for (const name of wanted) {
  const [size, fast, stallMs, trickle, tickMs] = SCEN[name]
  const body = randomBytes(size)
  const oid = objectId('adv2', `${name}-${Date.now()}`)
  async function* chunks() {
    let o = 0
    const piece = 64 * KiB
    if (name === 'gaps') {
      for (; o < size; o += piece) {
        if (o % (1280 * KiB) === 640 * KiB) await sleep(IDLE * 0.8)
        yield body.subarray(o, Math.min(size, o + piece))
      }
      return
    }
    while (o < fast) {
      const n = Math.min(piece, fast - o)
      yield body.subarray(o, o + n)
      o += n
    }
    const until = Date.now() + stallMs
    while (Date.now() < until) {
      await sleep(tickMs)
      yield body.subarray(o, o + trickle)
      o += trickle
    }
    while (o < size) {
      const n = Math.min(piece, size - o)
      yield body.subarray(o, o + n)
      o += n
    }
  }
  const c = await QfsClient.create({ node: nodes[0].multiaddrs[0] })
  const t = Date.now()
  const put = await c.putContent(oid, 1, { size, chunks: chunks() }, meta)
  const took = Date.now() - t
  await c.close()
  const reads = []
  let roots
  for (const [_i, n] of nodes.entries()) {
    const rc = await QfsClient.create({ node: n.multiaddrs[0] })
    const r = await rc.getContent(oid, 1)
    reads.push(
      r.ok
        ? createHash('sha256').update(r.content_bytes).digest('hex') ===
          createHash('sha256').update(body).digest('hex')
          ? 'ok'
          : 'BAD'
        : r.code,
    )
    if (r.ok) roots = r.proofs
    await rc.close()
  }
  if (put.ok && roots)
    for (const p of roots)
      allShards.push({
        shard_id: p.shard_id,
        merkle_root: p.merkle_root,
        replicas: put.replica_sets[p.shard_id],
      })
  const line = `${name}: put ${put.ok ? 'ok' : `${put.code} ${put.message}`} in ${took} ms under_replicated=${JSON.stringify(put.under_replicated ?? null)} reads=${reads.join(',')}`
  log(line)
  results.push(line)
}
await sleep(IDLE * 2)
const staged = []
for (const n of nodes) staged.push((await storeStatus(n)).staged)
log(
  'staged per node after',
  staged.join(','),
  'rssAnon MiB',
  nodes.map((n) => (status(n.pid).anon / 1024).toFixed(0)).join(','),
)
for (const n of nodes.slice(0, 2))
  log(
    n.node_id.slice(-4),
    (await metrics(n, /^qfs_(exchange_failures|request_errors|peer_failures|under_repl)/)).join(' | '),
  )
await devnet.stop()
const off = await offlineCheck(nodes, allShards)
log('offline: missing', JSON.stringify(off.missing), 'staging markers', JSON.stringify(off.staged))
process.exit(0)
