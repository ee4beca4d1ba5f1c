import { shardId } from '../../dist/core/ids.js'
import { placeShard } from '../../dist/core/placement.js'
import {
  alive,
  BLOCK,
  cpuTicks,
  dataFrame,
  endFrame,
  fdCount,
  fresh,
  jsonFrame,
  KA,
  log,
  meta,
  metrics,
  objectId,
  open,
  P,
  peerWithKey,
  pushHeader,
  QfsClient,
  randomBytes,
  sleep,
  startDevnet,
  status,
  storeStatus,
} from './lib.mjs'

const IDLE = Number(process.env.IDLE ?? 2000)
const tests = process.argv.slice(2).length
  ? process.argv.slice(2)
  : ['before', 'other', 'hold', 'many', 'flood']
const devnet = await startDevnet(
  fresh(process.env.DIR ?? '/tmp/qfs-adv2-a3'),
  { idle_timeout_ms: IDLE },
  { logLevel: 'warn' },
)
process.on('exit', () => devnet.killAllNow())
const [n1, n2] = devnet.nodes
const n5dir = devnet.nodes[4].dir
await devnet.kill(5, 'SIGTERM')
log('n5 stopped; attacker uses its key. victim n1 pid', n1.pid)
const PUSH = P('replica/push')
const ids = devnet.nodes.map((n) => n.node_id)
const peers = [await peerWithKey(n5dir)]
const oid = () => objectId('adv2h', `${Date.now()}-${Math.random()}`)
const cpu = async (ms) => {
  const a = cpuTicks(n1.pid)
  const t = performance.now()
  await sleep(ms)
  return (((cpuTicks(n1.pid) - a) * 10) / (performance.now() - t)) * 100
}
async function honestWrite(tag) {
  // an object with n1 among shard 0's replicas, coordinated by n2
  let id
  for (let k = 0; ; k++) {
    id = objectId('adv2honest', `${tag}-${Date.now()}-${k}`)
    if (placeShard(shardId(id, 1, 0), ids, 3).selected.includes(n1.node_id)) break
  }
  const c = await QfsClient.create({ node: n2.multiaddrs[0] })
  const t = performance.now()
  const r = await c.putContent(id, 1, randomBytes(3 * 1024 * 1024), meta)
  const ms = performance.now() - t
  await c.close()
  return `${r.ok ? 'ok' : r.code} ${ms.toFixed(0)} ms ur=${
    r.ok
      ? Object.values(r.under_replicated)
          .flat()
          .map((x) => ids.indexOf(x) + 1)
          .join('') || '-'
      : ''
  }`
}
const lag = async () =>
  (await metrics(n1, /^nodejs_eventloop_lag_(p99|max)_seconds /))
    .map((l) => l.replace('nodejs_eventloop_lag_', ''))
    .join(' ')
log('baseline cpu% n1', (await cpu(3000)).toFixed(1), 'honest write', await honestWrite('base'))

for (const test of tests) {
  if (test === 'before') {
    const s = await open(peers[0], n1, PUSH)
    s.send(KA)
    s.send(jsonFrame(pushHeader(oid(), 1000)))
    await sleep(1500)
    log('before: KA before header ->', s.frames.join(','), 'ended', s.ended, s.endedAt?.toFixed(0))
  }
  if (test === 'other') {
    for (const proto of [P('replica/fetch'), P('replica/rpc', '1.1.0'), P('replica/commit')]) {
      const s = await open(peers[0], n1, proto)
      s.send(KA)
      await sleep(800)
      log(`other: KA first on ${proto} ->`, s.frames.join(','), 'ended', s.ended, s.endedAt?.toFixed(0))
      s.stream.abort(new Error('done'))
    }
    // KA after the request of replica/fetch (a data protocol whose server reads only the request)
    const s = await open(peers[0], n1, P('replica/fetch'))
    s.send(jsonFrame({ shard_id: shardId(oid(), 1, 0), from_block: 0 }))
    s.send(KA)
    await sleep(800)
    log('other: fetch request + KA ->', s.frames.join(','), 'ended', s.ended)
    s.stream.abort(new Error('done'))
    // KA after the header but inside a DATA frame's bytes? A KA between DATA frames then END
    const h = pushHeader(oid(), 10)
    const s2 = await open(peers[0], n1, PUSH)
    s2.send(jsonFrame(h))
    s2.send(KA)
    s2.send(dataFrame(Buffer.alloc(4, 1)))
    s2.send(KA)
    s2.send(KA)
    s2.send(dataFrame(Buffer.alloc(6, 2)))
    s2.send(KA)
    s2.send(endFrame())
    await sleep(1500)
    log('other: push with KAs between frames ->', s2.frames.join(','), 'ended', s2.ended)
    // KA after END
    const s3 = await open(peers[0], n1, PUSH)
    s3.send(jsonFrame(pushHeader(oid(), 1)))
    s3.send(dataFrame(Buffer.alloc(1)))
    s3.send(endFrame())
    s3.send(KA)
    await sleep(1500)
    log('other: KA after END ->', s3.frames.join(','), 'ended', s3.ended)
    s3.stream.abort(new Error('done'))
  }
  if (test === 'hold' || test === 'holddata') {
    const s = await open(peers[0], n1, PUSH)
    s.send(jsonFrame(pushHeader(oid(), 4 * BLOCK)))
    const iv = setInterval(() => s.send(KA), IDLE / 4)
    if (test === 'holddata') {
      await sleep(20 * IDLE)
      s.send(dataFrame(Buffer.alloc(BLOCK, 7)))
    }
    const from = performance.now() - s.t0
    await sleep(IDLE)
    const stagedDuring = (await storeStatus(n1)).staged
    while (s.ended === undefined && performance.now() - s.t0 < from + 40 * IDLE) await sleep(200)
    clearInterval(iv)
    const stagedAfter = (await storeStatus(n1)).staged
    log(
      `${test}: KA every ${IDLE / 4} ms after the last other frame at ${from.toFixed(0)} ms -> ${s.frames.join(',')} FIN at ${s.fin?.toFixed(0)} ms, ${s.ended} at ${s.endedAt?.toFixed(0)} ms (limit ${30 * IDLE} ms after it); staged during ${stagedDuring}, after ${stagedAfter}`,
    )
  }
  if (test === 'many') {
    const CONNS = Number(process.env.CONNS ?? 4)
    while (peers.length < CONNS) peers.push(await peerWithKey(n5dir))
    const streams = []
    const refused = {}
    const before = { ...status(n1.pid), fd: fdCount(n1.pid) }
    const t = performance.now()
    const iv = setInterval(() => {
      for (const s of streams) if (s.ended === undefined) s.send(KA)
    }, IDLE / 4)
    for (const p of peers) {
      for (let i = 0; i < 80; i++) {
        try {
          const s = await open(p, n1, PUSH)
          s.send(jsonFrame(pushHeader(oid(), 4 * BLOCK)))
          streams.push(s)
        } catch (e) {
          refused[e.name] = (refused[e.name] ?? 0) + 1
          break
        }
      }
      if (peers.indexOf(p) % 10 === 9)
        log(
          `many: ${streams.length} opened (${streams.filter((s) => s.ended !== undefined).length} ended): n1 ${alive(n1.pid) ? 'up' : 'DEAD'} rss ${status(n1.pid).rss >> 10} MiB staged ${(await storeStatus(n1)).staged} ${(await metrics(n1, /^(nodejs_heap_size_used_bytes|nodejs_external_memory_bytes) /)).map((l) => `${l.split('_')[1]}=${(Number(l.split(' ')[1]) / 1048576).toFixed(0)}M`).join(' ')}`,
        )
    }
    const _conns = peers[0].getConnections().length
    log(
      `many: opened ${streams.length} push streams over ${peers.length} attacker nodes in ${(performance.now() - t).toFixed(0)} ms (refused: ${JSON.stringify(refused)}); n1 sees peer conns ${(await metrics(n1, /^qfs_peers /)).join('')}`,
    )
    await sleep(IDLE)
    const st = await storeStatus(n1)
    const c = await cpu(10000)
    const during = { ...status(n1.pid), fd: fdCount(n1.pid) }
    log(
      `many: holding ${streams.filter((s) => s.ended === undefined && s.frames.length === 0).length} (${streams.filter((s) => s.ended !== undefined).length} ended): n1 cpu ${c.toFixed(1)}% rss ${before.rss >> 10}->${during.rss >> 10} MiB fd ${before.fd}->${during.fd} staged=${st.staged} ${await lag()} ${(await metrics(n1, /^nodejs_heap_size_used_bytes /)).join('')}`,
    )
    log('many: honest write via n2 while held:', await honestWrite('many'))
    const t2 = performance.now()
    while (streams.some((s) => s.ended === undefined) && performance.now() - t2 < 35 * IDLE) await sleep(500)
    clearInterval(iv)
    const ends = {}
    for (const s of streams) {
      const k = `${s.frames.join(',')}|${s.ended}`
      ends[k] = (ends[k] ?? 0) + 1
    }
    log(
      `many: after ${((performance.now() - t) / 1000).toFixed(1)} s: ${JSON.stringify(ends)} staged=${(await storeStatus(n1)).staged} rss=${status(n1.pid).rss >> 10} MiB`,
    )
    for (const p of peers.slice(1)) await p.stop()
    peers.length = 1
  }
  if (test === 'flood') {
    const FLOOD_S = Number(process.env.FLOOD_S ?? 20)
    const N = Number(process.env.STREAMS ?? 1)
    const buf = Buffer.concat(Array.from({ length: 32768 }, () => KA)) // 64 KiB of KEEPALIVE frames
    const streams = []
    for (let i = 0; i < N; i++) {
      const s = await open(peers[0], n1, PUSH)
      s.send(jsonFrame(pushHeader(oid(), 4 * BLOCK)))
      streams.push(s)
    }
    const flood = { sent: 0, stop: false }
    const pumps = streams.map((s) => pump(s, buf, flood))
    const t = performance.now()
    const c = await cpu(Math.min(FLOOD_S, 10) * 1000)
    const w = await honestWrite('flood')
    const l = await lag()
    await sleep(Math.max(0, FLOOD_S * 1000 - (performance.now() - t)))
    const secs = (performance.now() - t) / 1000
    log(
      `flood (${N} stream): ${(flood.sent / secs / 1048576).toFixed(1)} MiB/s of KEEPALIVE = ${(flood.sent / 2 / secs / 1e6).toFixed(2)} M frames/s; n1 cpu ${c.toFixed(1)}%, ${l}; honest write via n2: ${w}; stream state ${streams.map((s) => s.ended ?? 'open').join(',')} ${streams[0].frames.join(',')}`,
    )
    if (process.env.FLOOD_TO_END) {
      while (streams.some((s) => s.ended === undefined) && performance.now() - t < 40 * IDLE) await sleep(500)
      log(
        `flood: ended after ${((performance.now() - t) / 1000).toFixed(1)} s: ${streams.map((s) => `${s.frames.join(',')}|${s.ended}`).join(' ')}`,
      )
    }
    flood.stop = true
    for (const s of streams) s.stream.abort(new Error('done'))
    await Promise.all(pumps)
  }
  if (test === 'dflood') {
    // comparison: the same eligible peer streaming DATA (1 MiB frames) into a push declaring 64 GiB
    const s = await open(peers[0], n1, PUSH)
    s.send(jsonFrame(pushHeader(oid(), 2 ** 36)))
    const buf = dataFrame(Buffer.alloc(1 << 20, 9))
    const flood = { sent: 0, stop: false }
    const pumping = pump(s, buf, flood)
    const t = performance.now()
    const c = await cpu(10000)
    const secs = (performance.now() - t) / 1000
    const l = await lag()
    const w = await honestWrite('dflood')
    log(
      `dflood: ${(flood.sent / secs / 1048576).toFixed(1)} MiB/s of DATA; n1 cpu ${c.toFixed(1)}%, ${l}; honest write via n2: ${w}`,
    )
    flood.stop = true
    s.stream.abort(new Error('done'))
    await pumping
    await sleep(1000)
  }
  if (test === 'reserve') {
    // header declaring 2^45 bytes (32 TiB): space admission counts declared lengths of open pushes
    const s = await open(peers[0], n1, PUSH)
    s.send(jsonFrame(pushHeader(oid(), 2 ** 45)))
    await sleep(500)
    log('reserve: 32 TiB header ->', s.frames.join(',') || '(accepted, no answer)', s.ended ?? 'open')
    s.stream.abort(new Error('done'))
    const free = Number((await metrics(n1, /^qfs_storage_free_bytes /))[0]?.split(' ')[1])
    const s2 = await open(peers[0], n1, PUSH)
    s2.send(jsonFrame(pushHeader(oid(), Math.floor(free * 0.95))))
    const iv = setInterval(() => s2.send(KA), IDLE / 4)
    await sleep(1000)
    log(
      `reserve: header declaring 95% of free (${(free / 2 ** 30).toFixed(1)} GiB) -> ${s2.frames.join(',') || 'accepted'}; /readyz ${(await fetch(n1.api + '/readyz')).status}; honest write via n2: ${await honestWrite('reserve')}`,
    )
    clearInterval(iv)
    s2.stream.abort(new Error('done'))
  }
  log(
    'health',
    devnet.nodes
      .slice(0, 4)
      .map((n, i) => `n${i + 1}:${alive(n.pid) ? 'up' : 'DEAD'} rss=${status(n.pid).rss >> 10}M`)
      .join(' '),
    'n1 staged',
    (await storeStatus(n1)).staged,
  )
}
for (const p of peers) await p.stop()
await devnet.stop()
process.exit(0)

/** Sends `frame` on `s` as fast as it takes it, until `flood.stop` or the stream ends; counts bytes in `flood.sent`. */
async function pump(s, frame, flood) {
  while (!flood.stop && s.ended === undefined) {
    if (!s.send(frame))
      await new Promise((r) => {
        s.stream.addEventListener('drain', r, { once: true })
        setTimeout(r, 1000)
      })
    flood.sent += frame.length
  }
}
