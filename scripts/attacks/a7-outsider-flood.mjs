// Outsiders (fresh peer ids: no key needed) keeping as many refused replica/* streams open on n1 as
// they can: CONNS connections, each re-opening K streams per protocol as soon as n1 releases them
// (NOT_ELIGIBLE, reset within about 1 s). Samples n1's heap, RSS and CPU; stops when n1 dies or after SECS.
// Usage: npx node scripts/attacks/a7-outsider-flood.mjs   env CONNS (20), K (64), SECS (40), PROTOS (push,fetch,commit,record;
//   a name is replica/<name>, or give a full protocol id), HEAPDIR (heap snapshot near the heap limit),
//   TRACE (1: count live AbortSignal.any() results by call site, see trace-any.mjs), WAIT_AFTER (ms before that count)
import { multiaddr } from '@multiformats/multiaddr'
import { alive, cpuTicks, fresh, log, metrics, P, peerWithKey, sleep, startDevnet, status } from './lib.mjs'

const CONNS = Number(process.env.CONNS ?? 20)
const K = Number(process.env.K ?? 64)
const SECS = Number(process.env.SECS ?? 40)
const PROTOS = (process.env.PROTOS ?? 'push,fetch,commit,record')
  .split(',')
  .map((p) => (p.startsWith('/') ? p : P(`replica/${p}`)))

import { DAEMON_NODE_ARGS } from '../../dist/daemon/devnet.js'

// HEAPDIR: the daemons write a heap snapshot there when near their heap limit (for finding what is kept)
const extra = process.env.HEAPDIR
  ? {
      nodeArgs: [
        ...DAEMON_NODE_ARGS,
        '--heapsnapshot-near-heap-limit=1',
        `--diagnostic-dir=${process.env.HEAPDIR}`,
      ],
    }
  : {}
// TRACE=1: the daemons preload trace-any.mjs (live AbortSignal.any() results by call site); n1's table is printed at the end
if (process.env.TRACE)
  extra.nodeArgs = [
    ...(extra.nodeArgs ?? DAEMON_NODE_ARGS),
    '--expose-gc',
    '--import',
    new URL('./trace-any.mjs', import.meta.url).pathname,
  ]
const devnet = await startDevnet(
  fresh(process.env.DIR ?? '/tmp/qfs-adv2-a7'),
  {},
  { logLevel: 'warn', ...extra },
)
process.on('exit', () => devnet.killAllNow())
const n1 = devnet.nodes[0]
const ma = multiaddr(n1.multiaddrs[0])
const peers = []
for (let i = 0; i < CONNS; i++) peers.push(await peerWithKey())
const conns = await Promise.all(peers.map((p) => p.dial(ma)))
let opened = 0,
  failedOpen = 0,
  live = 0,
  stop = false
const errs = {}
async function worker(conn, proto) {
  while (!stop) {
    try {
      const s = await conn.newStream(proto, { signal: AbortSignal.timeout(5000) })
      opened++
      live++
      await new Promise((r) => {
        s.addEventListener('close', r, { once: true })
        setTimeout(r, 5000)
      })
      live--
      if (s.status === 'open') s.abort(new Error('x'))
    } catch (e) {
      failedOpen++
      errs[e.name] = (errs[e.name] ?? 0) + 1
      await sleep(200)
      if (conn.status !== 'open') return
    }
  }
}
const workers = []
for (const c of conns) for (const proto of PROTOS) for (let i = 0; i < K; i++) workers.push(worker(c, proto))
const t = performance.now()
let c0 = cpuTicks(n1.pid),
  t0 = performance.now()
while (performance.now() - t < SECS * 1000 && alive(n1.pid)) {
  await sleep(4000)
  const c1 = cpuTicks(n1.pid),
    t1 = performance.now()
  const heap = (await metrics(n1, /^nodejs_heap_size_used_bytes /))[0]?.split(' ')[1]
  log(
    `${((t1 - t) / 1000).toFixed(0)}s: opened ${opened} (${(opened / ((t1 - t) / 1000)).toFixed(0)}/s), open now ${live}, failed ${failedOpen} ${JSON.stringify(errs)}; n1 ${alive(n1.pid) ? 'up' : 'DEAD'} cpu ${((((c1 - c0) * 10) / (t1 - t0)) * 100).toFixed(0)}% rss ${status(n1.pid).rss >> 10} MiB heap ${(Number(heap) / 1048576).toFixed(0)} MiB`,
  )
  c0 = c1
  t0 = t1
}
stop = true
await sleep(6000)
if (process.env.WAIT_AFTER) {
  await sleep(Number(process.env.WAIT_AFTER))
  log(
    `after ${process.env.WAIT_AFTER} ms more: n1 heap ${(Number((await metrics(n1, /^nodejs_heap_size_used_bytes /))[0]?.split(' ')[1]) / 1048576).toFixed(0)} MiB`,
  )
}
if (process.env.TRACE && alive(n1.pid)) {
  process.kill(n1.pid, 'SIGUSR2')
  await sleep(1000)
  log(
    'trace:\n' +
      (await import('node:fs'))
        .readFileSync(`/tmp/trace-any-${n1.pid}.txt`, 'utf8')
        .split('\n')
        .slice(0, 8)
        .join('\n'),
  )
}
log(
  `end: n1 ${alive(n1.pid) ? 'up' : 'DEAD'} rss ${status(n1.pid).rss >> 10} MiB; readyz ${await fetch(
    n1.api + '/readyz',
  ).then(
    (r) => r.status,
    (e) => e.cause?.code,
  )}`,
)
for (const p of peers) await p.stop().catch(() => {})
await devnet.stop()
process.exit(0)
