import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { u64 } from '../core/bytes.js'
import { createQfsLibp2p } from '../net/libp2p-node.js'
import { openNodeDb } from '../store/db.js'
import { exchangeFloor } from './exchange-floor.js'
import { floorModel } from './floor-model.js'
import { round } from './proc.js'
import { writeReport } from './report.js'
import { roundsFloor } from './rounds-floor.js'

/**
 * The floor under the network benchmark (evidence/bench/floor.json): what the building blocks a
 * replicated write cannot avoid cost on this machine, measured alone in one process, so the
 * targets of bench:net can be weighed against what any implementation on this stack would pay.
 *
 * - transport: bytes over one libp2p stream between two nodes of this process (TCP on 127.0.0.1,
 *   Noise, yamux, the node's own configuration), CPU of both ends per MiB;
 * - SHA3-256 (node:crypto) over 256 KiB blocks, the protocol's hash;
 * - LevelDB puts of 256 KiB values under growing keys (the store's block layout), CPU per MiB
 *   including LevelDB's background threads, until the database is closed.
 *
 * The floors combine them with the counts the protocol fixes: a replicated write moves each byte
 * over 1 + (R - R/N) hops (client to coordinator, coordinator to the replicas it is not), hashes it
 * twice at the coordinator (hash_commit and the leaf hashes), once at the client (hash_commit) and
 * once at each replica, and stores it R times; a read through a non-holder moves it over 2 hops and
 * hashes it once at the coordinator (the leaf hashes) and twice at the client (leaves, hash_commit).
 *
 * And for small objects: one 4 KiB request/response between two processes (a child process echoes),
 * over an open stream and over a fresh stream each time, CPU at each end and latency. A small put is
 * a client request plus rounds of such exchanges between the coordinator and the other nodes; the
 * small-put floor times that shape itself (`rounds-floor.ts`): a client's 4 KiB put on a fresh
 * stream to a coordinator process that runs 1, 2 or 3 rounds with four peer processes, with no
 * work in any of them, so what any put of that many rounds pays on this machine before it stores,
 * logs or checks anything.
 */

const MIB = 1024 * 1024
const BLOCK = 256 * 1024
const TOTAL_MIB = Number(process.env.QFS_BENCH_FLOOR_MIB ?? 256)
const R = 3
const EXCHANGES = Number(process.env.QFS_BENCH_FLOOR_EXCHANGES ?? 2000)
const N = 5
const ROUND_PUTS = Number(process.env.QFS_BENCH_FLOOR_PUTS ?? 600)
const ROUND_BLOCK = 50
const ROUND_WARMUP = 50

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start)
  return (u.user + u.system) / 1000
}

async function transportCpuPerMib(): Promise<{ cpu_ms_per_mib: number; mib_s: number }> {
  const a = await createQfsLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
  })
  const b = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
  const total = TOTAL_MIB * MIB
  try {
    let done: () => void = () => {}
    const received = new Promise<void>((resolve) => {
      done = resolve
    })
    await a.handle('/qfs/bench/floor/1.0.0', (stream: Stream) => {
      let got = 0
      stream.addEventListener('message', (evt) => {
        got += evt.data.byteLength
        if (got >= total) done()
      })
    })
    const stream = await b.dialProtocol(a.getMultiaddrs()[0]!, '/qfs/bench/floor/1.0.0')
    const chunk = randomBytes(BLOCK)
    const cpu = process.cpuUsage()
    const t = performance.now()
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (!stream.send(chunk))
        await new Promise<void>((resolve) =>
          stream.addEventListener('drain', () => resolve(), { once: true }),
        )
    }
    await received
    const ms = performance.now() - t
    return { cpu_ms_per_mib: round(cpuMsSince(cpu) / TOTAL_MIB, 2), mib_s: round(TOTAL_MIB / (ms / 1000)) }
  } finally {
    await b.stop()
    await a.stop()
  }
}

function sha3MibPerSecond(): { mib_s: number; cpu_ms_per_mib: number } {
  const block = randomBytes(BLOCK)
  const cpu = process.cpuUsage()
  for (let i = 0; i < (TOTAL_MIB * MIB) / BLOCK; i++) createHash('sha3-256').update(block).digest()
  const ms = cpuMsSince(cpu)
  return { mib_s: round(TOTAL_MIB / (ms / 1000)), cpu_ms_per_mib: round(ms / TOTAL_MIB, 2) }
}

async function leveldbCpuPerMib(): Promise<{ cpu_ms_per_mib: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'qfs-bench-floor-'))
  try {
    const db = await openNodeDb(join(dir, 'db'))
    const values = Array.from({ length: 16 }, () => randomBytes(BLOCK))
    const cpu = process.cpuUsage()
    for (let i = 0; i < (TOTAL_MIB * MIB) / BLOCK; i++) await db.put(u64(i), values[i % values.length]!)
    await db.close()
    return { cpu_ms_per_mib: round(cpuMsSince(cpu) / TOTAL_MIB, 2) }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  const transport = await transportCpuPerMib()
  const sha3 = sha3MibPerSecond()
  const leveldb = await leveldbCpuPerMib()
  const exchange = await exchangeFloor(EXCHANGES)
  const smallPut = await roundsFloor({
    roundCounts: [1, 2, 3],
    puts: ROUND_PUTS,
    block: ROUND_BLOCK,
    warmup: ROUND_WARMUP,
  })
  const floors = floorModel(
    { transport: transport.cpu_ms_per_mib, sha3: sha3.cpu_ms_per_mib, leveldb: leveldb.cpu_ms_per_mib },
    R,
    N,
  )
  const { write_hops: writeHops, write_hashes: writeHashes, write, read } = floors
  await writeReport('floor', {
    method: {
      bytes: `${TOTAL_MIB} MiB per measurement, 256 KiB at a time, one process (CPU is user + system of the whole process, LevelDB's threads included)`,
      write_floor: `${writeHops} hops x transport + ${writeHashes} SHA3 passes + ${R} LevelDB copies (R = ${R}, N = ${N})`,
      read_floor: '2 hops x transport + 3 SHA3 passes (LevelDB reads at the holder left out)',
      use: 'CPU per MiB that a replicated write or read on this stack cannot go below; on a CPU-bound machine, throughput ratios against another system are bounded by the ratio of its CPU per MiB to these floors',
    },
    transport,
    sha3_256: sha3,
    leveldb_put: leveldb,
    floors_cpu_ms_per_mib: { write: round(write, 1), read: round(read, 1) },
    exchange_4kib: {
      method: `${EXCHANGES} exchanges after a warm-up, this process asking a child process (same libp2p configuration) that echoes; CPU of each process per exchange from process.cpuUsage and /proc/<pid>/stat (10 ms ticks, so the server figure is an average over the run)`,
      ...exchange,
    },
    small_put_rounds: {
      method: `${ROUND_PUTS} puts of 4 KiB per round count after ${ROUND_WARMUP} of warm-up, taken in turn in blocks of ${ROUND_BLOCK}; this process puts on a fresh stream to a coordinator process, which runs the rounds with four peer processes (each round one frame to every peer over a long-lived stream, 4 KiB in the first and 1 KiB after, and the wait for all four 128-byte acknowledgements) and answers 256 bytes; no store, log, hash or signature anywhere; the six processes run with the daemons' V8 options; a put of this project is 3 rounds (stage, decide, commit) plus its work`,
      results: smallPut.results,
      served: smallPut.served,
    },
  })
}

await main()
