// 4 KiB puts through node-1, then gets of them through node-2, on an in-process network of five
// nodes (src/node/mini-network.ts: each node its own LevelDB, audit log and engine, joined by the
// in-process transport): what this project's own work costs per operation with no libp2p, no
// sockets and no other process. Prints per round the latency p50 and p99, the CPU of this process
// per operation (process.cpuUsage: every thread, LevelDB's included) and the LevelDB calls per
// operation, by kind: `_getSync` runs on the calling thread, every other one is a round trip through
// libuv's thread pool (`iter_next` and `iter_close` are an iterator's). One JSON line per round.
//
//   npm run build && node scripts/measure/in-process-ops.mjs     (through npx node on Node 20 machines)
//
// OPS (default 300) operations of each kind per round, ROUNDS (default 4) rounds, after WARMUP
// (default 50) puts and gets. The in-process transport copies what a network would (headers,
// records, bytes) with structuredClone, a cost the daemons do not have.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { objectId } from '../../dist/core/ids.js'
import { MiniNetwork } from '../../dist/node/mini-network.js'

const ops = Number(process.env.OPS ?? 300)
const rounds = Number(process.env.ROUNDS ?? 4)
const warmup = Number(process.env.WARMUP ?? 50)

const calls = new Map()
const counted = (proto, name, label) => {
  const original = proto[name]
  if (typeof original !== 'function') return
  proto[name] = function (...args) {
    calls.set(label, (calls.get(label) ?? 0) + 1)
    return original.apply(this, args)
  }
}
for (const name of ['_get', '_getMany', '_put', '_del', '_batch', '_clear', '_getSync'])
  counted(ClassicLevel.prototype, name, name)

const dir = await mkdtemp(join(tmpdir(), 'in-process-ops-'))
const net = await MiniNetwork.create({ nodeIds: ['node-1', 'node-2', 'node-3', 'node-4', 'node-5'], dir })
try {
  // The iterator class is not exported: take it from an iterator of a node's database.
  const probe = net.node('node-1').db.iterator()
  await probe.close()
  for (
    let p = Object.getPrototypeOf(probe);
    p !== null && p !== Object.prototype;
    p = Object.getPrototypeOf(p)
  )
    for (const name of ['_next', '_nextv', '_all', '_close'])
      if (Object.hasOwn(p, name)) counted(p, name, `iter${name}`)

  const writer = net.engine('node-1')
  const reader = net.engine('node-2')
  const metadata = { author_node_id: 'in-process-ops', created_at_tick: 1 }
  const percentile = (sorted, q) =>
    Number(sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * q) / 100))].toFixed(2))
  const timed = async (n, call) => {
    const latencies = []
    calls.clear()
    const cpu = process.cpuUsage()
    for (let i = 0; i < n; i++) {
      const started = performance.now()
      const answer = await call(i)
      if (!answer.ok) throw new Error(`${answer.code}: ${answer.error_detail}`)
      latencies.push(performance.now() - started)
    }
    const used = process.cpuUsage(cpu)
    latencies.sort((a, b) => a - b)
    return {
      p50_ms: percentile(latencies, 50),
      p99_ms: percentile(latencies, 99),
      cpu_ms: Number(((used.user + used.system) / 1000 / n).toFixed(2)),
      leveldb_calls: Object.fromEntries([...calls].map(([k, v]) => [k, Number((v / n).toFixed(2))])),
    }
  }
  const round = async (label, n) => {
    const ids = Array.from({ length: n }, (_, i) => objectId('in-process-ops', `${label}/${i}`))
    const put = await timed(n, (i) =>
      writer.putContent(ids[i], 1, new Uint8Array(4096).fill(i & 255), metadata),
    )
    const get = await timed(n, (i) => reader.getContent(ids[i], 1))
    return { put, get }
  }
  if (warmup > 0) await round('warm-up', warmup)
  for (let r = 0; r < rounds; r++)
    console.log(JSON.stringify({ round: r, ops, ...(await round(`measured-${r}`, ops)) }))
} finally {
  await net.close()
  await rm(dir, { recursive: true, force: true })
}
