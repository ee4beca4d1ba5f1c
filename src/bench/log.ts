import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js'
import { Level } from 'level'
import { parseId, utf8 } from '../core/bytes.js'
import { sha3Hex } from '../core/hash.js'
import { CHECKPOINT_CONTEXT } from '../log/checkpoint.js'
import type { EventFields } from '../log/event.js'
import { EventLog } from '../log/event-log.js'
import { generateAuditKey } from '../log/keys.js'
import type { LogBatchOperation, RootDb } from '../log/log-store.js'

/**
 * EQM log throughput: STORE entries appended to a classic-level database for a sustained period
 * with full ML-DSA-65 checkpoint coverage (the final flush is inside the measured time), each
 * committed in one batch with a small index put, as the node's commit path does. Wall-clock time is
 * fine here: this is a measurement, nothing of it reaches a log. Writes evidence/bench/log.json.
 */

const DURATION_MS = Number(process.env.QFS_BENCH_LOG_MS ?? 5000)
// Concurrent appenders: a node serves many requests at once; the log groups what queues up.
const IN_FLIGHT = Number(process.env.QFS_BENCH_LOG_IN_FLIGHT ?? 64)
const CHECKPOINT_EVERY = 256
const TARGET_PER_S = 2000

function id(label: string, i: number): string {
  return sha3Hex(utf8(`${label}:${i}`))
}

function storeFields(i: number): EventFields {
  const objectId = id('object', i)
  const shardIds = [0, 1, 2, 3].map((s) => sha3Hex(utf8(`${objectId}:1:${s}`)))
  const replicaSets: Record<string, string[]> = {}
  shardIds.forEach((shard, s) => {
    replicaSets[shard] = [0, 1, 2].map((r) => `12D3KooWNode${(s + r) % 7}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx`)
  })
  return {
    event_type: 'STORE',
    epoch: 42,
    timestamp_tick: 3_628_800 + i,
    object_id: objectId,
    version: 1,
    hash_commit: id('commit', i),
    content_size: 1_048_576 + i,
    shard_ids: shardIds,
    replica_sets: replicaSets,
    atr_cost: '102400.000000000000000000',
    error_code: null,
    error_detail: null,
    details: {
      metadata: {
        author_node_id: 'atlas-client-7',
        created_at_tick: 3_628_800 + i,
        tags: ['dataset', 'images', 'v13'],
        openagi_score: 734_000,
        atr_fee_events: [id('fee', i)],
        aegis_telemetry_stub: { node_id: 'node-3', proof_result: 'PASS', latency_band: 2, at_epoch: 41 },
      },
      catalogue_homes: ['node-1', 'node-4', 'node-6'],
    },
  }
}

interface RunResult {
  entries: number
  seconds: number
  entries_per_s: number
  checkpoints: number
  flush_ms: number
}

async function run(
  log: EventLog,
  index: ReturnType<RootDb['sublevel']>,
  inFlight: number,
): Promise<RunResult> {
  let next = 0
  const start = performance.now()
  const deadline = start + DURATION_MS
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const i = next++
      const fields = storeFields(i)
      const ops: LogBatchOperation[] = [
        { type: 'put', sublevel: index, key: `${fields.object_id}:1`, value: fields.hash_commit! },
      ]
      await log.append(fields, ops)
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  const flushStart = performance.now()
  await log.flush()
  const end = performance.now()
  const head = log.head()
  const seconds = (end - start) / 1000
  return {
    entries: head.entries,
    seconds: round(seconds, 3),
    entries_per_s: Math.round(head.entries / seconds),
    checkpoints: head.checkpoints,
    flush_ms: round(end - flushStart, 1),
  }
}

function signatureTimings(): { sign_ms: number; verify_ms: number } {
  const key = generateAuditKey(new Uint8Array(32).fill(5))
  const msg = parseId(id('checkpoint', 0))
  const rounds = 20
  const sigs: Uint8Array[] = []
  let t = performance.now()
  for (let i = 0; i < rounds; i++)
    sigs.push(ml_dsa65.sign(msg, key.secretKey, { context: CHECKPOINT_CONTEXT }))
  const sign = (performance.now() - t) / rounds
  t = performance.now()
  for (const s of sigs) ml_dsa65.verify(s, msg, key.publicKey, { context: CHECKPOINT_CONTEXT })
  const verify = (performance.now() - t) / rounds
  return { sign_ms: round(sign, 2), verify_ms: round(verify, 2) }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'qfs-bench-log-'))
  try {
    const timings = signatureTimings()
    const results: Record<string, RunResult & { verify_ms: number; verify_ok: boolean }> = {}
    for (const [name, inFlight] of [
      ['concurrent', IN_FLIGHT],
      ['sequential', 1],
    ] as const) {
      // As the node opens it (local-node.ts): the log takes the database untyped.
      const db = new Level<string, string>(join(dir, name)) as unknown as RootDb
      await db.open()
      const log = new EventLog(
        { db, nodeId: 'bench-node', key: generateAuditKey(new Uint8Array(32).fill(6)) },
        { checkpointEvery: CHECKPOINT_EVERY },
      )
      await log.open()
      const r = await run(log, db.sublevel('index', {}), inFlight)
      const t = performance.now()
      const v = await log.verify()
      results[name] = { ...r, verify_ms: round(performance.now() - t, 1), verify_ok: v.ok }
      await log.close()
      await db.close()
      console.log(
        `${name} (${inFlight} in flight): ${r.entries} STORE entries in ${r.seconds}s = ${r.entries_per_s}/s, ` +
          `${r.checkpoints} checkpoints, final flush ${r.flush_ms} ms; verify ${results[name].verify_ms} ms ok=${v.ok}`,
      )
    }
    console.log(`ML-DSA-65: sign ${timings.sign_ms} ms, verify ${timings.verify_ms} ms`)
    const report = {
      bench: 'qfs-log-append/1',
      node_version: process.version,
      // The machine is shared: the load at the end tells how much of it the bench had.
      cpus: availableParallelism(),
      load_average_1m: round(loadavg()[0] ?? 0, 2),
      backend: 'classic-level',
      duration_ms: DURATION_MS,
      checkpoint_every: CHECKPOINT_EVERY,
      target_entries_per_s: TARGET_PER_S,
      signature: { scheme: 'ML-DSA-65', ...timings },
      runs: results,
      meets_target: (results.concurrent?.entries_per_s ?? 0) >= TARGET_PER_S,
    }
    const out = resolve('evidence/bench/log.json')
    await mkdir(dirname(out), { recursive: true })
    await writeFile(out, `${JSON.stringify(report, null, 2)}\n`)
    console.log(`wrote ${out}`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
