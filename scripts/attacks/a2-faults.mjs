// Bursty writes (stall of 3 idle timeouts inside shard 0's 7th block) while a fault hits a replica of
// shard 0 or the coordinator during the stall. Repeats ROUNDS times per fault and samples every node's
// RssAnon, fds, active handles and open libp2p streams, and staged shards, to spot leaks.
// Usage: npx node scripts/attacks/a2-faults.mjs [fault...]  faults: stopRep killRep stopCoord killCoord none
// env IDLE (2000), ROUNDS (3)
import { createHash } from 'node:crypto'
import { shardId } from '../../dist/core/ids.js'
import { placeShard } from '../../dist/core/placement.js'
import {
  alive,
  fdCount,
  fresh,
  log,
  meta,
  metricSum,
  metrics,
  objectId,
  QfsClient,
  randomBytes,
  sleep,
  startDevnet,
  status,
  storeStatus,
} from './lib.mjs'

const IDLE = Number(process.env.IDLE ?? 2000)
const ROUNDS = Number(process.env.ROUNDS ?? 3)
const KiB = 1024,
  MiB = 1024 * 1024
const faults = process.argv.slice(2).length
  ? process.argv.slice(2)
  : ['none', 'stopRep', 'killRep', 'stopCoord', 'killCoord']
const devnet = await startDevnet(
  fresh(process.env.DIR ?? '/tmp/qfs-adv2-a2'),
  { idle_timeout_ms: IDLE },
  { logLevel: 'warn' },
)
process.on('exit', () => devnet.killAllNow())
const ids = devnet.nodes.map((n) => n.node_id)
const idx = (id) => ids.indexOf(id) + 1
async function sample(tag) {
  const rows = []
  for (const [i, n] of devnet.nodes.entries()) {
    if (!devnet.running(i + 1)) {
      rows.push(`n${i + 1}:down`)
      continue
    }
    const s = status(n.pid)
    const st = await storeStatus(n)
    const handles = await metricSum(n, 'nodejs_active_handles_total')
    const streams = (
      await metrics(n, /^libp2p_(protocol_streams|connection_manager_connections|muxer)/)
    ).filter((l) => /qfs|push|total|inbound|outbound/.test(l))
    const pushStreams = streams
      .filter((l) => l.includes('push'))
      .map((l) => l.split(' ').at(-1))
      .join('/')
    rows.push(
      `n${i + 1}:anon=${(s.anon / 1024).toFixed(0)}M fd=${fdCount(n.pid)} h=${handles} staged=${st.staged} push=${pushStreams || '-'}`,
    )
  }
  log(tag, rows.join(' '))
}
let printedNames = false
await sample('baseline')
for (const fault of faults) {
  for (let round = 0; round < ROUNDS; round++) {
    const coord = devnet.nodes[0]
    // an object whose shard 0 has 3 remote replicas (the coordinator n1 holds none of it)
    let oid, reps
    for (let k = 0; ; k++) {
      oid = objectId('adv2f', `${fault}-${round}-${Date.now()}-${k}`)
      reps = placeShard(shardId(oid, 1, 0), ids, 3).selected
      if (!reps.includes(coord.node_id)) break
    }
    const victim = fault.endsWith('Rep') ? idx(reps[round % 3]) : 1
    const size = 8 * MiB
    const body = randomBytes(size)
    const fast = 1.5 * MiB + 1000
    async function* chunks() {
      let o = 0
      while (o < fast) {
        yield body.subarray(o, Math.min(o + 64 * KiB, fast))
        o = Math.min(fast, o + 64 * KiB)
      }
      const until = Date.now() + 3 * IDLE
      let hit = false
      while (Date.now() < until) {
        await sleep(300)
        if (!hit) {
          hit = true
          inject()
        }
        yield body.subarray(o, o + KiB)
        o += KiB
      }
      while (o < size) {
        yield body.subarray(o, Math.min(size, o + 64 * KiB))
        o += 64 * KiB
      }
    }
    const pid = () => devnet.nodes[victim - 1].pid
    const inject = () => {
      if (fault === 'stopRep' || fault === 'stopCoord') {
        process.kill(pid(), 'SIGSTOP')
        setTimeout(() => process.kill(pid(), 'SIGCONT'), 2 * IDLE)
      }
      if (fault === 'killRep' || fault === 'killCoord') process.kill(pid(), 'SIGKILL')
    }
    const c = await QfsClient.create({ node: coord.multiaddrs[0] })
    const t = Date.now()
    const put = await c
      .putContent(oid, 1, { size, chunks: chunks() }, meta, { signal: AbortSignal.timeout(120000) })
      .catch((e) => ({ ok: false, code: e.code ?? e.name, message: e.message }))
    const took = Date.now() - t
    await c.close().catch(() => {})
    if (fault.startsWith('kill')) {
      await sleep(500)
      if (!devnet.running(victim)) await devnet.restart(victim)
    }
    await sleep(2.5 * IDLE)
    const reads = []
    for (const n of devnet.nodes) {
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
      await rc.close()
    }
    log(
      `${fault}#${round} victim n${victim} (shard0 on ${reps.map(idx).join('')}): put ${put.ok ? 'ok' : `${put.code}`} ${took} ms ur=${JSON.stringify(
        put.under_replicated ?? null,
      )
        .replace(/"(\w{8})\w+"/g, '$1')
        .slice(0, 200)} reads=${reads.join(',')}`,
    )
    if (!printedNames) {
      printedNames = true
      log((await metrics(devnet.nodes[1], /^libp2p_.*stream/)).slice(0, 12).join(' | '))
    }
  }
  await sample(`after ${fault}`)
}
await sleep(3 * IDLE)
await sample('settled')
log('alive', devnet.nodes.map((n) => alive(n.pid)).join(','))
await devnet.stop()
process.exit(0)
