import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_PARAMS } from '../core/params.js'
import { DAEMON_ENV, DAEMON_NODE_ARGS } from '../daemon/devnet.js'
import { netRunFigures } from './net-history.js'
import { type BulkStep, bulkSummary, HeliaNetwork, OursNetwork } from './net-systems.js'
import { allTargetsPass, netRatios, netTargets, type SideFigures } from './net-targets.js'
import { RssSampler, round, waitForQuiet } from './proc.js'
import { writeReport } from './report.js'
import { appendRun, runLine, runSource } from './run-history.js'

/**
 * The network benchmark (evidence/bench/net.json): our 5-node devnet against Helia, every node a
 * process of its own on loopback, the same bytes for both.
 *
 * Bulk: QFS_BENCH_NET_MIB (default 256) MiB of AES-CTR keystream (incompressible, reproducible in
 * every process from a seed) as QFS_BENCH_NET_OBJECTS (default 4) objects.
 * - Ours, write: each object through the SDK to node-1 (a fixed entry point, as a client would),
 *   which hashes, places and pushes every shard to its 3 replicas and acknowledges once decided and
 *   committed. Ours, read: through one node per run that holds none of the object's shards, so every
 *   byte crosses the network twice (replica to coordinator to client) and is verified on both hops.
 *   The object names are chosen so that reader holds none and node-1 exactly 3 of the 4 (placement
 *   depends only on the ids).
 * - Helia, write with replication 3: `addByteStream` on node A (the bytes already in A's memory), then
 *   B and C fetch the whole DAG over bitswap at the same time (each keeps every block); the figure is
 *   size / (add + both fetches). Helia, read: a fourth node D holding nothing fetches the whole file.
 * Helia runs with LevelDB stores, TCP + Noise + yamux (our implementations), no discovery, no DHT, no
 * HTTP routers or gateways, bitswap as the only block broker (src/bench/helia-node.ts).
 *
 * Both networks run at once and are measured in alternation, one object per round (see measure()),
 * so the ratios compare the systems under the same machine conditions; each round's ratios are in
 * `rounds`, and their medians in `ratios.*_median_round`.
 *
 * Warm-up: QFS_BENCH_NET_WARMUP_MIB (default 128, 0 for none) MiB as 4 objects, written and read by
 * each system before the rounds through the same nodes, and left out of the throughput and CPU
 * figures.
 *
 * Small objects: QFS_BENCH_NET_SMALL_OPS (default 300) puts of 4 KiB through node-1, then as many
 * gets through node-2, one at a time; latency is the SDK call as the client sees it. Before them,
 * QFS_BENCH_NET_SMALL_WARMUP_OPS (default 300, 0 for none) puts and gets of other objects the same
 * way, reported as `small_objects_warmup` and left out of the targets.
 * RSS: every daemon's and Helia node's VmRSS and RssAnon (/proc/<pid>/status) sampled every 200 ms
 * through the whole run.
 */

const MIB = 1024 * 1024
const TOTAL_MIB = Number(process.env.QFS_BENCH_NET_MIB ?? 256)
const OBJECTS = Number(process.env.QFS_BENCH_NET_OBJECTS ?? 4)
const SMALL_OPS = Number(process.env.QFS_BENCH_NET_SMALL_OPS ?? 300)
const SMALL_WARMUP_OPS = Number(process.env.QFS_BENCH_NET_SMALL_WARMUP_OPS ?? 300)
const WARMUP_MIB = Number(process.env.QFS_BENCH_NET_WARMUP_MIB ?? 128)
const WARMUP_OBJECTS = 4
const SMALL_BYTES = 4096
const NODES = 5
interface Measured {
  ours: Record<string, unknown>
  helia: Record<string, unknown>
  warmup: Record<string, Array<Record<string, number>>>
  rounds: Array<Record<string, unknown>>
  writeRatios: number[]
  readRatios: number[]
}

/**
 * Both networks up at once, then object by object: ours writes and reads object j, Helia writes and
 * reads object j, ours first in even rounds and Helia first in odd ones, so drift of the shared
 * machine (other work, thermal, page cache) reaches both systems alike and neither always gets the
 * fresher machine. Then the small objects (ours only). Both networks are stopped whatever happens.
 */
async function measure(work: string, rss: RssSampler): Promise<Measured> {
  const oursNet = new OursNetwork(rss, NODES)
  const heliaNet = new HeliaNetwork(rss)
  try {
    await oursNet.start(work)
    await heliaNet.start(work)
    const size = Math.floor((TOTAL_MIB * MIB) / OBJECTS)
    // Warm-up objects through the same nodes as the measured ones, left out of the throughput and
    // CPU figures, so both systems are measured as running nodes whose connections have carried
    // data. A fresh TCP connection starts with a 128 KiB receive buffer that Linux grows as it
    // carries data; until then Noise messages arrive cut in pieces and writes go out small (a
    // daemon's first 64 MiB read cost its node about 1.7x the CPU per MiB of its fifth).
    const warmup: Record<string, Array<Record<string, number>>> = { ours: [], helia: [] }
    const all = [...oursNet.processIds, ...heliaNet.processIds]
    const warm = Math.floor((WARMUP_MIB * MIB) / WARMUP_OBJECTS)
    for (let k = 0; WARMUP_MIB > 0 && k < WARMUP_OBJECTS; k++) {
      const order = [
        ['ours', oursNet],
        ['helia', heliaNet],
      ] as const
      for (const [name, net] of k % 2 === 0 ? order : [...order].reverse()) {
        await waitForQuiet(all)
        const step = await net.bulk(`warmup-${k}`, warm, 'warmup')
        warmup[name]!.push({
          bytes: warm,
          write_mib_s: round(warm / MIB / (step.write_ms / 1000), 2),
          read_mib_s: round(warm / MIB / (step.read_ms / 1000), 2),
        })
      }
    }
    const oursSteps: BulkStep[] = []
    const heliaSteps: BulkStep[] = []
    const rounds: Array<Record<string, unknown>> = []
    const writeRatios: number[] = []
    const readRatios: number[] = []
    const mibS = (ms: number) => size / MIB / (ms / 1000)
    for (let j = 0; j < OBJECTS; j++) {
      const oursFirst = j % 2 === 0
      let q: BulkStep
      let h: BulkStep
      // Each system starts on a quiet machine: neither pays for work the other left running.
      const all = [...oursNet.processIds, ...heliaNet.processIds]
      const settled: Array<{ waited_ms: number; quiet: boolean }> = []
      const quietThen = async <T>(step: () => Promise<T>): Promise<T> => {
        settled.push(await waitForQuiet(all))
        return step()
      }
      if (oursFirst) {
        q = await quietThen(() => oursNet.bulk(String(j), size))
        h = await quietThen(() => heliaNet.bulk(String(j), size))
      } else {
        h = await quietThen(() => heliaNet.bulk(String(j), size))
        q = await quietThen(() => oursNet.bulk(String(j), size))
      }
      oursSteps.push(q)
      heliaSteps.push(h)
      const writeRatio = mibS(q.write_ms) / mibS(h.write_ms)
      const readRatio = mibS(q.read_ms) / mibS(h.read_ms)
      writeRatios.push(writeRatio)
      readRatios.push(readRatio)
      rounds.push({
        round: j,
        bytes: size,
        first: oursFirst ? 'ours' : 'helia',
        ours: { write_mib_s: round(mibS(q.write_ms), 2), read_mib_s: round(mibS(q.read_ms), 2) },
        helia: { write_mib_s: round(mibS(h.write_ms), 2), read_mib_s: round(mibS(h.read_ms), 2) },
        ratios: { write: round(writeRatio, 2), read: round(readRatio, 2) },
        settle_before_each_system: settled,
      })
    }
    // The bulk warm-up runs the large-object path only: without this one, the measured small
    // operations would be the daemons' first, and pay V8 compiling their code (in a run of four
    // rounds of 300 on one devnet, the first put round cost 46.6 ms of node CPU per put, the next
    // three 34.9-35.9). Its figures are kept beside the measured ones.
    const smallWarmup =
      SMALL_WARMUP_OPS > 0
        ? await oursNet.smallObjects(SMALL_WARMUP_OPS, SMALL_BYTES, 'small-warmup')
        : undefined
    const small = await oursNet.smallObjects(SMALL_OPS, SMALL_BYTES)
    const oursBulk = bulkSummary(oursSteps, size)
    const heliaBulk = bulkSummary(heliaSteps, size)
    return {
      ours: {
        nodes: NODES,
        replication_factor: DEFAULT_PARAMS.replicationFactor,
        block_size_bytes: DEFAULT_PARAMS.blockSizeBytes,
        objects: oursSteps.map((s) => s.object),
        write_mib_s: oursBulk.write_mib_s,
        read_mib_s: oursBulk.read_mib_s,
        // All daemons and the client: a figure the other load on the machine does not move much.
        write_cpu_ms_per_mib: oursBulk.write_cpu_ms_per_mib,
        read_cpu_ms_per_mib: oursBulk.read_cpu_ms_per_mib,
        small_objects: small,
        ...(smallWarmup === undefined ? {} : { small_objects_warmup: smallWarmup }),
      },
      helia: {
        nodes: HeliaNetwork.NAMES.length,
        chunker:
          'fixed 262144 bytes (Helia default, same as our block size), raw leaves, CIDv1, balanced DAG',
        objects: heliaSteps.map((s) => s.object),
        ...heliaBulk,
      },
      warmup,
      rounds,
      writeRatios,
      readRatios,
    }
  } finally {
    try {
      await oursNet.stop()
    } finally {
      await heliaNet.stop()
    }
  }
}

async function main(): Promise<void> {
  if (!Number.isSafeInteger(TOTAL_MIB) || TOTAL_MIB < 1 || !Number.isSafeInteger(OBJECTS) || OBJECTS < 1) {
    throw new Error('QFS_BENCH_NET_MIB and QFS_BENCH_NET_OBJECTS must be positive integers')
  }
  if (!Number.isSafeInteger(WARMUP_MIB) || WARMUP_MIB < 0) {
    throw new Error('QFS_BENCH_NET_WARMUP_MIB must be a count of MiB (0: no warm-up)')
  }
  if (!Number.isSafeInteger(SMALL_WARMUP_OPS) || SMALL_WARMUP_OPS < 0) {
    throw new Error('QFS_BENCH_NET_SMALL_WARMUP_OPS must be a count of operations (0: no warm-up)')
  }
  const work = await mkdtemp(join(tmpdir(), 'qfs-bench-net-'))
  const rss = new RssSampler()
  rss.start()
  try {
    const { ours: q, helia: h, warmup, rounds, writeRatios, readRatios } = await measure(work, rss)
    rss.stop()
    const qfsRss = rss.report('qfs:')
    const maxRss = Math.max(...Object.values(qfsRss).map((r) => r.max_mib))
    const maxAnon = Math.max(...Object.values(qfsRss).map((r) => r.max_anon_mib))
    const small = q.small_objects as Parameters<typeof netTargets>[2]
    const sides = { ours: q as unknown as SideFigures, helia: h as unknown as SideFigures }
    const targets = netTargets(sides.ours, sides.helia, small, {
      max_anon_mib: maxAnon,
      max_vm_rss_mib: maxRss,
    })
    const report = {
      method: {
        content: `${TOTAL_MIB} MiB of AES-256-CTR keystream as ${OBJECTS} objects, the same bytes for both systems`,
        ours: 'write through node-1 with the SDK (replication 3, acknowledged after decide and commit); read with the SDK through one node per run, which holds none of the objects (as Helia reads through D). Object names are chosen so that the reader holds none of the 4 shards and node-1 exactly 3 (the mean when the replicas fall among the other 4 nodes), so the writer stages the same share locally in every object and run; `objects` lists both nodes',
        warmup: `before the rounds, each system writes and reads ${WARMUP_MIB} MiB as ${WARMUP_OBJECTS} objects (in alternation, as the rounds) through the same nodes as the measured ones, left out of the throughput and CPU figures (their speeds are in \`warmup\`; memory is sampled throughout, as the target asks, with the warm-up as phases of its own): both are measured as running nodes whose connections have carried data, since a fresh TCP connection's receive buffer starts at 128 KiB and grows only as it carries data. The bulk warm-up runs only the large-object path, so before the measured small objects the benchmark puts and gets ${SMALL_WARMUP_OPS} other 4 KiB objects the same way (their latencies in \`ours.small_objects_warmup\`, left out of the targets): the measured operations are those of running daemons, not their first, which pay V8 compiling the small-object code`,
        helia:
          'add on A, then B and C fetch every block over bitswap at once (write = add + replication to 2 more nodes); read = a fourth node holding nothing fetches the file',
        processes:
          'every node (5 of ours, 4 Helia) and the benchmark client are separate processes on 127.0.0.1; both networks run at once and are measured in alternation, object by object (round j: each system writes and reads object j, ours first in even rounds, Helia first in odd ones), so drift of the shared machine reaches both alike; the processes of the system not under test stay up and idle meanwhile (connected, holding what they stored), and before the step of each system the benchmark waits until all 9 processes together use under 15% of a core over 500 ms (at most 20 s; the waits of each round are in `settle_before_each_system`), so neither system pays for work the other left running; the small-object phase (ours only) runs last with the Helia nodes still up and idle',
        runtime: `our daemons run as the devnet starts them: node ${DAEMON_NODE_ARGS.join(' ')} with ${Object.entries(
          DAEMON_ENV,
        )
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}; Helia nodes with Node's defaults`,
        cpu: 'user + system time of every process of the system under test (for ours also the SDK client) from /proc/<pid>/stat, per MiB moved; Helia write CPU includes making the bytes on A (AES-CTR, about 1 ms/MiB)',
        rss: 'VmRSS and RssAnon from /proc/<pid>/status every 200 ms, peak per phase; the target reads RssAnon, since VmRSS also counts mapped LevelDB table files (page cache)',
        caveat:
          'a shared 2-core machine: other work running at the same time moves MiB/s and latency by tens of percent between runs (load_average_1m is recorded); CPU per MiB moves less',
      },
      ours: q,
      helia: h,
      ratios: netRatios(sides.ours, sides.helia, writeRatios, readRatios),
      warmup,
      rounds,
      rss_mib: { ours: qfsRss, helia: rss.report('helia:') },
      targets,
      all_targets_pass: allTargetsPass(targets),
    }
    await writeReport('net', report)
    const history = runLine(
      'net',
      new Date(),
      runSource(),
      {
        total_mib: TOTAL_MIB,
        objects: OBJECTS,
        warmup_mib: WARMUP_MIB,
        small_ops: SMALL_OPS,
        small_warmup_ops: SMALL_WARMUP_OPS,
      },
      netRunFigures(report),
    )
    process.stderr.write(`run recorded in ${await appendRun('net', history)}\n`)
  } finally {
    rss.stop()
    await rm(work, { recursive: true, force: true })
  }
}

await main()
// Sockets of stopped libp2p nodes can keep the loop alive for a while; the report is written.
process.exit(0)
