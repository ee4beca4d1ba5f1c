// Honest traffic only: do the AbortSignal.any() signals of StorageProtocol.serve stay alive after their
// exchanges end? Daemons preload trace-any.mjs; BATCHES x OPS small writes + reads + lists rotate over
// the 5 coordinators, then each node's table (after a forced GC) and V8 heap are printed.
// Usage: npx node scripts/attacks/a8-honest-leak.mjs   env BATCHES (3), OPS (100), SIZE (300000)
import { readFileSync } from 'node:fs'
import { log, meta, metrics, objectId, QfsClient, randomBytes, sleep, startTracedDevnet } from './lib.mjs'

const BATCHES = Number(process.env.BATCHES ?? 3)
const OPS = Number(process.env.OPS ?? 100)
const SIZE = Number(process.env.SIZE ?? 300000)
const devnet = await startTracedDevnet(process.env.DIR ?? '/tmp/qfs-adv2-a8')
const clients = await Promise.all(devnet.nodes.map((n) => QfsClient.create({ node: n.multiaddrs[0] })))
const heap = async () =>
  (
    await Promise.all(
      devnet.nodes.map(async (n) =>
        (Number((await metrics(n, /^nodejs_heap_size_used_bytes /))[0]?.split(' ')[1]) / 1048576).toFixed(0),
      ),
    )
  ).join(',')
async function table(tag) {
  for (const n of devnet.nodes) process.kill(n.pid, 'SIGUSR2')
  await sleep(1500)
  log(`${tag}: heap MiB ${await heap()}`)
  for (const [i, n] of devnet.nodes.entries()) {
    const rows = readFileSync(`/tmp/trace-any-${n.pid}.txt`, 'utf8').trim().split('\n').filter(Boolean)
    log(`  n${i + 1}: ${rows.map((r) => r.replace(/ < .*$/, '')).join(' | ')}`)
  }
}
for (let b = 0; b < BATCHES; b++) {
  const t = performance.now()
  for (let i = 0; i < OPS; i++) {
    const c = clients[i % 5]
    const oid = objectId('adv2honest', `${b}-${i}`)
    const w = await c.putContent(oid, 1, randomBytes(SIZE), meta)
    if (!w.ok) log('write failed', w.code)
    const r = await clients[(i + 2) % 5].getContent(oid, 1)
    if (!r.ok) log('read failed', r.code)
    if (i % 10 === 0) await clients[(i + 3) % 5].listObjects({ limit: 20 })
  }
  log(`batch ${b + 1}: ${OPS} writes + reads in ${((performance.now() - t) / 1000).toFixed(1)} s`)
  await sleep(12000) // past the 10 s request timeout of every exchange
  await table(`after batch ${b + 1}`)
}
for (const c of clients) await c.close()
await devnet.stop()
process.exit(0)
