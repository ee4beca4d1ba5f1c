// 4 KiB puts, then gets of the same objects, on a 5-node devnet started for the run: latency p50 and
// p99, and CPU per operation of the five daemons together and of this client (from /proc and
// process.cpuUsage). Puts go through node-1, gets through node-2, as in `npm run bench:net`.
//
//   npm run build && node scripts/measure/small-ops.mjs     (through npx node on Node 20 machines)
//
// OPS (default 300) sets the measured operations, after WARMUP (default 50) of warm-up, repeated
// ROUNDS times (default 1) on the same devnet, one line each (how the figures move as the daemons warm); SEMI the daemons' V8 young
// generation in MiB (default: the devnet's own, DAEMON_NODE_ARGS); DAEMON_ARGS more Node options for
// the daemons, space-separated (such as V8 GC flags). One JSON line per run. To compare
// two commits, build each in its own clone and alternate runs of the two: this machine's speed
// moves more between minutes than most changes move these figures.
import { readFile } from 'node:fs/promises'
import { objectId } from '../../dist/core/ids.js'
import { DAEMON_NODE_ARGS } from '../../dist/daemon/devnet.js'
import { withDevnetClients } from './devnet-clients.mjs'

const ops = Number(process.env.OPS ?? 300)
const warmup = Number(process.env.WARMUP ?? 50)
const rounds = Number(process.env.ROUNDS ?? 1)
const semi = process.env.SEMI
const extraArgs = (process.env.DAEMON_ARGS ?? '').split(' ').filter((a) => a !== '')
const nodeArgs = [
  ...(semi === undefined
    ? DAEMON_NODE_ARGS
    : DAEMON_NODE_ARGS.map((a) =>
        a.startsWith('--max-semi-space-size') ? `--max-semi-space-size=${semi}` : a,
      )),
  ...extraArgs,
]

/** User + system CPU of `pids`, in ms (clock ticks of 10 ms). */
async function cpuOf(pids) {
  let ms = 0
  for (const pid of pids) {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ')
    ms += (Number(fields[11]) + Number(fields[12])) * 10
  }
  return ms
}
const percentile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b)
  return Number(sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * q) / 100))].toFixed(2))
}
const clientMs = (from) => {
  const u = process.cpuUsage(from)
  return (u.user + u.system) / 1000
}

await withDevnetClients('small-ops', nodeArgs, async ({ devnet, writer, reader }) => {
  const pids = devnet.nodes.map((n) => n.pid)
  const metadata = { author_node_id: 'small-ops', created_at_tick: 1 }
  const run = async (label, n) => {
    const ids = Array.from({ length: n }, (_, i) => objectId('small-ops', `${label}/${i}`))
    const timed = async (call) => {
      const started = performance.now()
      const answer = await call()
      if (!answer.ok) throw new Error(`${answer.code}: ${answer.error_detail}`)
      return performance.now() - started
    }
    const put = []
    const get = []
    let nodes = await cpuOf(pids)
    let client = process.cpuUsage()
    for (const [i, id] of ids.entries())
      put.push(await timed(() => writer.putContent(id, 1, new Uint8Array(4096).fill(i & 255), metadata)))
    const putNodes = (await cpuOf(pids)) - nodes
    const putClient = clientMs(client)
    nodes = await cpuOf(pids)
    client = process.cpuUsage()
    for (const id of ids) get.push(await timed(() => reader.getContent(id, 1)))
    const getNodes = (await cpuOf(pids)) - nodes
    const getClient = clientMs(client)
    const perOp = (ms) => Number((ms / n).toFixed(2))
    return {
      ops: n,
      put_p50_ms: percentile(put, 50),
      put_p99_ms: percentile(put, 99),
      put_cpu_ms: { nodes: perOp(putNodes), client: perOp(putClient) },
      get_p50_ms: percentile(get, 50),
      get_p99_ms: percentile(get, 99),
      get_cpu_ms: { nodes: perOp(getNodes), client: perOp(getClient) },
    }
  }
  if (warmup > 0) await run('warm-up', warmup)
  for (let r = 0; r < rounds; r++) {
    console.log(
      JSON.stringify({
        semi_space_mib: semi ?? 'devnet default',
        daemon_args: extraArgs,
        ...(rounds > 1 ? { round: r } : {}),
        ...(await run(`measured-${r}`, ops)),
      }),
    )
  }
})
