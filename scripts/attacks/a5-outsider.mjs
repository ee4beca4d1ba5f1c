// A peer outside the eligible set opening replica/rpc and replica/push to n1, again and again: how fast
// is each stream refused and released, can the peer stretch the release by sending (keep-alives,
// headers, junk) or by not reading, and does anything pile up on the victim over many rounds?
// Usage: npx node scripts/attacks/a5-outsider.mjs   env IDLE (30000: the refusal drain is min(idle, 1 s)), ROUNDS (300)
import {
  alive,
  fdCount,
  fresh,
  jsonFrame,
  KA,
  log,
  metricSum,
  metrics,
  objectId,
  open,
  P,
  peerWithKey,
  pushHeader,
  sleep,
  startDevnet,
  status,
} from './lib.mjs'

const IDLE = Number(process.env.IDLE ?? 30000)
const ROUNDS = Number(process.env.ROUNDS ?? 300)
const devnet = await startDevnet(
  fresh(process.env.DIR ?? '/tmp/qfs-adv2-a5'),
  { idle_timeout_ms: IDLE },
  { logLevel: 'warn' },
)
process.on('exit', () => devnet.killAllNow())
const n1 = devnet.nodes[0]
const RPC = P('replica/rpc', '1.1.0')
const PUSH = P('replica/push')
const peer = await peerWithKey()
const oid = objectId('adv2o', 'x')
const pct = (a) => {
  const s = [...a].sort((x, y) => x - y)
  return `p50=${s[s.length >> 1]?.toFixed(0)} max=${s.at(-1)?.toFixed(0)}`
}
async function one(proto, mode) {
  const s = await open(peer, n1, proto)
  if (mode === 'paused')
    try {
      s.stream.pause()
    } catch (e) {
      s.frames.push(`pause:${e.name}`)
    }
  let iv
  if (mode === 'ka') iv = setInterval(() => s.send(KA), 50)
  if (mode === 'junk') iv = setInterval(() => s.send(Buffer.alloc(4096, 0x41)), 20)
  if (mode === 'header') s.send(jsonFrame(pushHeader(oid, 1 << 20)))
  const t = performance.now()
  while (s.ended === undefined && performance.now() - t < 10000) await sleep(10)
  clearInterval(iv)
  if (s.ended === undefined) s.stream.abort(new Error('gave up'))
  return s
}
for (const proto of [RPC, PUSH]) {
  for (const mode of ['silent', 'ka', 'junk', 'header', 'paused']) {
    const ends = []
    let frames
    for (let i = 0; i < 3; i++) {
      const s = await one(proto, mode)
      ends.push(s.endedAt ?? -1)
      frames = `${s.frames.join(',')}|${s.ended}`
    }
    log(
      `${proto.split('/')[3]} ${mode}: released after ${ends.map((x) => x.toFixed(0)).join(',')} ms; ${frames}`,
    )
  }
}
// many at once, in rounds: 4 rpc + 64 push per round on one connection, each just reading
const base = { ...status(n1.pid), fd: fdCount(n1.pid), h: await metricSum(n1, 'nodejs_active_handles_total') }
const t = performance.now()
const rel = []
const refused = {}
for (let r = 0; r < ROUNDS; r++) {
  const batch = []
  for (let i = 0; i < 4; i++)
    batch.push(
      open(peer, n1, RPC).catch((e) => {
        refused[`rpc ${e.name}`] = (refused[`rpc ${e.name}`] ?? 0) + 1
      }),
    )
  for (let i = 0; i < 16; i++)
    batch.push(
      open(peer, n1, PUSH).catch((e) => {
        refused[`push ${e.name}`] = (refused[`push ${e.name}`] ?? 0) + 1
      }),
    )
  const ss = (await Promise.all(batch)).filter(Boolean)
  const t0 = performance.now()
  while (ss.some((s) => s.ended === undefined) && performance.now() - t0 < 5000) await sleep(20)
  for (const s of ss) rel.push(s.endedAt ?? 99999)
  if (r % 100 === 99)
    log(
      `round ${r + 1}: n1 rss ${status(n1.pid).rss >> 10} MiB anon ${status(n1.pid).anon >> 10} MiB fd ${fdCount(n1.pid)} handles ${await metricSum(n1, 'nodejs_active_handles_total')}`,
    )
}
log(
  `${ROUNDS} rounds of 4 rpc + 16 push in ${((performance.now() - t) / 1000).toFixed(1)} s; release ${pct(rel)} ms; not released in 5 s: ${rel.filter((x) => x === 99999).length}; refused ${JSON.stringify(refused)}`,
)
await sleep(3000)
log(
  `after: n1 rss ${base.rss >> 10}->${status(n1.pid).rss >> 10} MiB anon ${base.anon >> 10}->${status(n1.pid).anon >> 10} fd ${base.fd}->${fdCount(n1.pid)} handles ${base.h}->${await metricSum(n1, 'nodejs_active_handles_total')}; ${(await metrics(n1, /^qfs_exchange_failures_total/)).join(' | ')}; alive ${alive(n1.pid)}`,
)
await peer.stop()
await devnet.stop()
process.exit(0)
