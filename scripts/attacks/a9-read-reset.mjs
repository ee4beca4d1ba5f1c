// Public clients (no key) that reset their read streams early: does n1 keep anything per stream?
// One 2 MiB object is written; then CONNS fresh peers each run K loops of: open `read`, send the
// request, wait for the first bytes (or not, MODE=now), reset. Daemons preload trace-any.mjs.
// Usage: npx node scripts/attacks/a9-read-reset.mjs   env CONNS (4), K (8), SECS (20), MODE (first|now|paused)
import { readFileSync } from 'node:fs'
import { multiaddr } from '@multiformats/multiaddr'
import {
  alive,
  jsonFrame,
  log,
  meta,
  metrics,
  objectId,
  P,
  peerWithKey,
  QfsClient,
  randomBytes,
  sleep,
  startTracedDevnet,
  status,
} from './lib.mjs'

const CONNS = Number(process.env.CONNS ?? 4),
  K = Number(process.env.K ?? 8),
  SECS = Number(process.env.SECS ?? 20),
  MODE = process.env.MODE ?? 'first'
const devnet = await startTracedDevnet(process.env.DIR ?? '/tmp/qfs-adv2-a9')
const n1 = devnet.nodes[0]
const oid = objectId('adv2r', 'obj')
const c = await QfsClient.create({ node: n1.multiaddrs[0] })
log('seed', (await c.putContent(oid, 1, randomBytes(2 << 20), meta)).ok)
await c.close()
const heap = async () =>
  (Number((await metrics(n1, /^nodejs_heap_size_used_bytes /))[0]?.split(' ')[1]) / 1048576).toFixed(0)
const peers = await Promise.all(Array.from({ length: CONNS }, () => peerWithKey()))
const conns = await Promise.all(peers.map((p) => p.dial(multiaddr(n1.multiaddrs[0]))))
let done = 0,
  stop = false
const errs = {}
const loop = async (conn) => {
  while (!stop) {
    try {
      const s = await conn.newStream(P('read'), { signal: AbortSignal.timeout(5000) })
      if (MODE === 'paused') s.pause()
      s.send(jsonFrame({ object_id: oid, version: 1 }))
      if (MODE !== 'now')
        await new Promise((r) => {
          s.addEventListener('message', r, { once: true })
          setTimeout(r, 300)
        })
      s.abort(new Error('client gave up'))
      done++
    } catch (e) {
      errs[e.name] = (errs[e.name] ?? 0) + 1
      await sleep(100)
    }
  }
}
const workers = conns.flatMap((cn) => Array.from({ length: K }, () => loop(cn)))
const t = performance.now()
log(`heap before ${await heap()} MiB`)
while (performance.now() - t < SECS * 1000 && alive(n1.pid)) {
  await sleep(5000)
  log(
    `${((performance.now() - t) / 1000).toFixed(0)}s: ${done} reads reset; n1 heap ${await heap()} MiB rss ${status(n1.pid).rss >> 10} MiB errs ${JSON.stringify(errs)}`,
  )
}
stop = true
await Promise.all(workers)
await sleep(15000)
process.kill(n1.pid, 'SIGUSR2')
await sleep(1500)
log(
  `15 s after: n1 heap ${await heap()} MiB rss ${status(n1.pid).rss >> 10} MiB; live AbortSignal.any() results:\n` +
    readFileSync(`/tmp/trace-any-${n1.pid}.txt`, 'utf8')
      .split('\n')
      .filter((l) => l && !/ 0 alive/.test(l))
      .join('\n'),
)
for (const p of peers) await p.stop()
await devnet.stop()
process.exit(0)
