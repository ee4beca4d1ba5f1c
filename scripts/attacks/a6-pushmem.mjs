// Memory of a replica (n1) that takes bytes as fast as a peer pushes them. Modes:
//   push   : an eligible peer (n5's key, n5 stopped) streams 1 MiB DATA frames into one replica/push
//            (header declaring 64 GiB) for SECS seconds, then resets it
//   public : an honest SDK client writes SIZE bytes at full speed, coordinated by COORD (1 or 2)
// Samples n1 RssAnon, V8 heap used and external memory every second, then for 30 s after.
// Usage: npx node scripts/attacks/a6-pushmem.mjs <push|public> env SECS (10), SIZE (1 GiB), COORD (2), STREAMS (1)
import {
  dataFrame,
  fresh,
  jsonFrame,
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

const mode = process.argv[2] ?? 'push'
const SECS = Number(process.env.SECS ?? 10)
const devnet = await startDevnet(fresh(process.env.DIR ?? '/tmp/qfs-adv2-a6'), {}, { logLevel: 'warn' })
process.on('exit', () => devnet.killAllNow())
const n1 = devnet.nodes[0]
const mem = async () => {
  const m = await metrics(n1, /^(nodejs_heap_size_used_bytes|nodejs_external_memory_bytes) /)
  const g = (k) => (Number(m.find((l) => l.startsWith(k))?.split(' ')[1]) / 1048576).toFixed(0)
  const s = status(n1.pid)
  return `rss=${s.rss >> 10} anon=${s.anon >> 10} heap=${g('nodejs_heap_size_used')} ext=${g('nodejs_external')}`
}
const samples = []
let on = true
const sampler = (async () => {
  const t = performance.now()
  while (on) {
    samples.push(`${((performance.now() - t) / 1000).toFixed(0)}s ${await mem()}`)
    await sleep(1000)
  }
})()
let sent = 0
const t = performance.now()
if (mode === 'push') {
  const n5dir = devnet.nodes[4].dir
  await devnet.kill(5, 'SIGTERM')
  const peer = await peerWithKey(n5dir)
  const buf = dataFrame(Buffer.alloc(1 << 20, 9))
  const streams = []
  for (let i = 0; i < Number(process.env.STREAMS ?? 1); i++) {
    const s = await open(peer, n1, P('replica/push'))
    s.send(jsonFrame(pushHeader(objectId('adv2m', `${Date.now()}-${i}`), 2 ** 36)))
    streams.push(s)
  }
  await Promise.all(
    streams.map(async (s) => {
      while (performance.now() - t < SECS * 1000 && s.ended === undefined) {
        if (!s.send(buf))
          await new Promise((r) => {
            s.stream.addEventListener('drain', r, { once: true })
            setTimeout(r, 1000)
          })
        sent += buf.length
      }
    }),
  )
  for (const s of streams) s.stream.abort(new Error('done'))
  await sleep(500)
  await peer.stop()
} else {
  const SIZE = Number(process.env.SIZE ?? 2 ** 30)
  const coord = devnet.nodes[Number(process.env.COORD ?? 2) - 1]
  const piece = randomBytes(1 << 20)
  async function* chunks() {
    for (let o = 0; o < SIZE; o += piece.length) {
      sent += piece.length
      yield piece
    }
  }
  const c = await QfsClient.create({ node: coord.multiaddrs[0] })
  const r = await c.putContent(
    objectId('adv2m', `pub-${Date.now()}`),
    1,
    { size: SIZE, chunks: chunks() },
    meta,
  )
  log('public write', r.ok ? `ok ur=${JSON.stringify(r.under_replicated)}` : r.code)
  await c.close()
}
const secs = (performance.now() - t) / 1000
log(
  `${mode}: ${(sent / 1048576).toFixed(0)} MiB in ${secs.toFixed(1)} s (${(sent / secs / 1048576).toFixed(0)} MiB/s)`,
)
await sleep(30000)
on = false
await sampler
log('n1 samples:', samples.filter((_, i) => i % 2 === 0 || i === samples.length - 1).join(' | '))
log('n1 staged', (await storeStatus(n1)).staged)
await devnet.stop()
process.exit(0)
