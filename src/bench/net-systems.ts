import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import { objectId, shardId } from '../core/ids.js'
import { DEFAULT_PARAMS } from '../core/params.js'
import { EligibleSet } from '../core/placement.js'
import { Devnet } from '../daemon/devnet.js'
import { createQfsLibp2p } from '../net/libp2p-node.js'
import { QfsClient } from '../sdk/index.js'
import { HeliaProcess, seededSha256 } from './helia-net.js'
import { seededContent } from './helia-node.js'
import { cpuMs, latencyPercentiles, type RssSampler, round } from './proc.js'

/**
 * The two networks of the network benchmark (src/bench/net.ts), each started once and then driven
 * one object at a time, so the benchmark can alternate between them and both see the same machine.
 * A step writes one object and reads it back; its times and CPU come back to the caller, which
 * sums them over the objects and pairs the two systems per object.
 */

const MIB = 1024 * 1024

/** One object written and read by one system: wall time and CPU of each half, and what the report lists. */
export interface BulkStep {
  write_ms: number
  read_ms: number
  write_cpu_ms: number
  read_cpu_ms: number
  object: Record<string, unknown>
}

/** Throughput and CPU per MiB over every step of one system (sums of times, as one long transfer). */
export function bulkSummary(steps: readonly BulkStep[], size: number): Record<string, number> {
  const mib = (steps.length * size) / MIB
  const sum = (pick: (s: BulkStep) => number) => steps.reduce((acc, s) => acc + pick(s), 0)
  return {
    write_mib_s: round(mib / (sum((s) => s.write_ms) / 1000), 2),
    read_mib_s: round(mib / (sum((s) => s.read_ms) / 1000), 2),
    write_cpu_ms_per_mib: round(sum((s) => s.write_cpu_ms) / mib),
    read_cpu_ms_per_mib: round(sum((s) => s.read_cpu_ms) / mib),
  }
}

/**
 * Shards of an object whose replica sets leave the reader out and include the writer this many
 * times: 3 of 4, the mean when each shard's 3 replicas fall among the 4 nodes other than the reader.
 * Fixed, so that the writer's share of its own replicas (cheaper than remote ones) is the same in
 * every object and every run, whatever ids the nodes drew.
 */
const WRITER_HOLDS_SHARDS = 3

/** How many of `oid`'s shards each node holds (version 1). */
function shardsHeld(eligible: EligibleSet, oid: string): Map<string, number> {
  const held = new Map<string, number>()
  for (let s = 0; s < DEFAULT_PARAMS.numShardsPerObject; s++) {
    for (const n of eligible.place(shardId(oid, 1, s), DEFAULT_PARAMS.replicationFactor).selected)
      held.set(n, (held.get(n) ?? 0) + 1)
  }
  return held
}

/**
 * The first object name (per label) that the reader holds no shard of and the writer holds exactly
 * WRITER_HOLDS_SHARDS of, so every object is read through the same node (as Helia's are through D)
 * and written with the same share of local replicas.
 */
function chooseObject(
  label: string,
  eligible: EligibleSet,
  writer: string,
  reader: string,
): { name: string; oid: string } | undefined {
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const name = `net-bench/${label}/${attempt}`
    const oid = objectId('qfs-bench', name)
    const held = shardsHeld(eligible, oid)
    if (!held.has(reader) && held.get(writer) === WRITER_HOLDS_SHARDS) return { name, oid }
  }
  return undefined
}

/**
 * The reader of this run: the last node (in devnet order) for which object names exist that it
 * holds none of and the writer holds WRITER_HOLDS_SHARDS of. Placement may make a given node always
 * share every replica set with the writer's, so not every node qualifies in every run.
 */
function chooseReader(eligible: EligibleSet, nodes: readonly string[], writer: string): string {
  for (const reader of [...nodes].reverse()) {
    if (reader !== writer && chooseObject('probe', eligible, writer, reader) !== undefined) return reader
  }
  throw new Error('no node can read objects it holds none of with the writer holding 3 of 4 shards')
}

function bytesOf(seed: string, size: number): Uint8Array {
  const out = new Uint8Array(size)
  let off = 0
  for (const c of seededContent(seed, size)) {
    out.set(c, off)
    off += c.length
  }
  return out
}

const META = { author_node_id: 'net-bench', created_at_tick: 1 }

/**
 * Our devnet and one SDK client per daemon (sharing one libp2p node). CPU of a step counts every
 * daemon and this process (the SDK client); stop() undoes whatever start() got to.
 */
export class OursNetwork {
  private readonly rss: RssSampler
  private readonly nodeCount: number
  private devnet: Devnet | undefined
  private libp2p: Libp2p | undefined
  private readonly clients = new Map<string, QfsClient>()
  private ids: string[] = []
  private pids: number[] = []
  private eligible: EligibleSet | undefined
  /** The node every object is read through, chosen at start (chooseReader). */
  private reader = ''

  constructor(rss: RssSampler, nodeCount: number) {
    this.rss = rss
    this.nodeCount = nodeCount
  }

  /** The daemons' process ids. */
  get processIds(): readonly number[] {
    return this.pids
  }

  async start(work: string): Promise<void> {
    this.devnet = await Devnet.start({ dir: join(work, 'devnet'), nodes: this.nodeCount, logLevel: 'warn' })
    const infos = this.devnet.nodes
    for (const [i, n] of infos.entries()) this.rss.watch(`qfs:node-${i + 1}`, n.pid)
    this.ids = infos.map((n) => n.node_id)
    this.pids = infos.map((n) => n.pid)
    this.eligible = new EligibleSet(this.ids)
    this.reader = chooseReader(this.eligible, this.ids, this.ids[0]!)
    this.libp2p = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
    for (const n of infos)
      this.clients.set(n.node_id, await QfsClient.create({ node: n.multiaddrs[0]!, libp2p: this.libp2p }))
  }

  /**
   * Object `label` written through node-1 (a fixed entry point, holding 3 of its 4 shards) and read
   * through this run's reader, which holds none of it.
   */
  async bulk(label: string, size: number, phase = 'bulk'): Promise<BulkStep> {
    const entry = this.ids[0]!
    const reader = this.reader
    const chosen = chooseObject(label, this.eligible!, entry, reader)
    if (chosen === undefined) throw new Error(`no object name for ${label} fits the reader and writer`)
    const bytes = bytesOf(`object-${label}`, size)
    this.rss.phase = `${phase}_write`
    let c = cpuMs(this.pids, true)
    let t = performance.now()
    const put = await this.client(entry).putContent(chosen.oid, 1, bytes, META)
    const w = performance.now() - t
    const writeCpu = cpuMs(this.pids, true) - c
    if (!put.ok) throw new Error(`put failed: ${JSON.stringify(put)}`)
    this.rss.phase = `${phase}_read`
    c = cpuMs(this.pids, true)
    t = performance.now()
    const opened = await this.client(reader).readContent(chosen.oid, 1)
    if (!('content' in opened)) throw new Error(`read failed: ${JSON.stringify(opened)}`)
    // The SDK checks every block against the record and the whole against hash_commit as it streams.
    let got = 0
    for await (const piece of opened.content) got += piece.length
    const r = performance.now() - t
    const readCpu = cpuMs(this.pids, true) - c
    if (got !== size || opened.hash_commit !== put.hash_commit) throw new Error('read back the wrong content')
    return {
      write_ms: w,
      read_ms: r,
      write_cpu_ms: writeCpu,
      read_cpu_ms: readCpu,
      object: {
        object: chosen.name,
        bytes: size,
        write_via: `node-${this.ids.indexOf(entry) + 1}`,
        write_via_holds_shards: put.shard_ids.filter((id) => put.replica_sets[id]!.includes(entry)).length,
        read_via: `node-${this.ids.indexOf(reader) + 1}`,
        read_via_holds_shards: 0,
        write_ms: round(w),
        read_ms: round(r),
      },
    }
  }

  /** `ops` puts of `bytes` through node-1, then as many gets through node-2, one at a time. */
  /**
   * `ops` puts of `bytes` through node-1, then gets of them through node-2, one at a time; `label`
   * names the objects (and the memory phase), so a warm-up's objects are not the measured ones.
   */
  async smallObjects(ops: number, bytes: number, label = 'small'): Promise<Record<string, unknown>> {
    this.rss.phase = label === 'small' ? 'small_objects' : `${label}_objects`
    const writer = this.client(this.ids[0]!)
    const reader = this.client(this.ids[1]!)
    const put: number[] = []
    const get: number[] = []
    const oids = Array.from({ length: ops }, (_, i) => objectId('qfs-bench', `${label}/${i}`))
    const contents = oids.map((_, i) => bytesOf(`${label}-${i}`, bytes))
    for (const [i, oid] of oids.entries()) {
      const t = performance.now()
      const r = await writer.putContent(oid, 1, contents[i]!, META)
      put.push(performance.now() - t)
      if (!r.ok) throw new Error(`small put failed: ${JSON.stringify(r)}`)
    }
    for (const [i, oid] of oids.entries()) {
      const t = performance.now()
      const r = await reader.getContent(oid, 1)
      get.push(performance.now() - t)
      if (!r.ok || Buffer.compare(Buffer.from(r.content_bytes), Buffer.from(contents[i]!)) !== 0) {
        throw new Error(`small get failed: ${JSON.stringify(r).slice(0, 300)}`)
      }
    }
    const putMs = latencyPercentiles(put)
    const getMs = latencyPercentiles(get)
    return {
      operations: ops,
      bytes,
      put_via: 'node-1',
      get_via: 'node-2',
      put_p50_ms: putMs.p50,
      put_p99_ms: putMs.p99,
      get_p50_ms: getMs.p50,
      get_p99_ms: getMs.p99,
    }
  }

  async stop(): Promise<void> {
    try {
      for (const c of this.clients.values()) await c.close().catch(() => {})
      await this.libp2p?.stop()
    } finally {
      this.rss.sample()
      await this.devnet?.stop()
      for (let i = 1; i <= this.nodeCount; i++) this.rss.unwatch(`qfs:node-${i}`)
    }
  }

  private client(nodeId: string): QfsClient {
    const c = this.clients.get(nodeId)
    if (c === undefined) throw new Error(`no client for ${nodeId}`)
    return c
  }
}

/**
 * Four Helia processes A-D, all dialled to each other. CPU of a step counts the four processes only
 * (this process merely relays requests). stop() stops whichever were spawned.
 */
export class HeliaNetwork {
  static readonly NAMES = ['A', 'B', 'C', 'D'] as const
  private readonly rss: RssSampler
  private readonly nodes: HeliaProcess[] = []

  constructor(rss: RssSampler) {
    this.rss = rss
  }

  /** The Helia nodes' process ids. */
  get processIds(): readonly number[] {
    return this.nodes.map((n) => n.process.pid!)
  }

  async start(work: string): Promise<void> {
    for (const name of HeliaNetwork.NAMES) {
      const dir = join(work, `helia-${name}`)
      await mkdir(dir, { recursive: true })
      const node = await HeliaProcess.spawn(dir)
      this.nodes.push(node)
      this.rss.watch(`helia:${name}`, node.process.pid!)
    }
    for (let i = 0; i < this.nodes.length; i++)
      for (let j = i + 1; j < this.nodes.length; j++) await this.nodes[i]!.dial(this.nodes[j]!)
  }

  /** Write = add on A, then B and C fetch the whole DAG at once; read = D, holding nothing, fetches it. */
  async bulk(label: string, size: number, phase = 'bulk'): Promise<BulkStep> {
    const [a, b, c, d] = this.nodes as [HeliaProcess, HeliaProcess, HeliaProcess, HeliaProcess]
    const pids = this.nodes.map((n) => n.process.pid!)
    const seed = `object-${label}`
    this.rss.phase = `${phase}_write`
    let cpu = cpuMs(pids, false)
    const added = await a.add(seed, size)
    const t = performance.now()
    const fetched = await Promise.all([b.fetch(added.cid), c.fetch(added.cid)])
    const replicate = performance.now() - t
    const writeCpu = cpuMs(pids, false) - cpu
    this.rss.phase = `${phase}_read`
    cpu = cpuMs(pids, false)
    const read = await d.fetch(added.cid)
    const readCpu = cpuMs(pids, false) - cpu
    if (fetched.some((f) => f.bytes !== size) || read.bytes !== size)
      throw new Error('helia fetched the wrong size')
    const sha = seededSha256(seed, size)
    for (const n of [b, c, d])
      if (!(await n.verify(added.cid, sha))) throw new Error('helia holds other bytes')
    return {
      write_ms: added.ms + replicate,
      read_ms: read.ms,
      write_cpu_ms: writeCpu,
      read_cpu_ms: readCpu,
      object: {
        cid: added.cid,
        bytes: size,
        add_ms: round(added.ms),
        replicate_to_2_ms: round(replicate),
        write_ms: round(added.ms + replicate),
        read_ms: round(read.ms),
      },
    }
  }

  async stop(): Promise<void> {
    this.rss.sample()
    for (const n of this.nodes) await n.stop()
  }
}
