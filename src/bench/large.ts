import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { objectId } from '../core/ids.js'
import { Devnet } from '../daemon/devnet.js'
import { QfsClient } from '../sdk/index.js'
import { seededContent } from './helia-node.js'
import { rssTarget } from './net-targets.js'
import { RssSampler, round, vmRssMiB } from './proc.js'
import { writeReport } from './report.js'

/**
 * One large object (default 1 GiB) written and read back through a 3-node devnet with the SDK,
 * streaming both ways, while every daemon's and the client's RSS is sampled: the memory bound of a
 * node does not depend on the size of what it stores. Writes evidence/bench/large.json.
 */

const MIB = 1024 * 1024
const SIZE_MIB = Number(process.env.QFS_BENCH_LARGE_MIB ?? 1024)
const RSS_TARGET_MIB = 200

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'qfs-bench-large-'))
  const rss = new RssSampler()
  const devnet = await Devnet.start({ dir: join(work, 'devnet'), nodes: 3, logLevel: 'warn' })
  try {
    for (const [i, n] of devnet.nodes.entries()) rss.watch(`qfs:node-${i + 1}`, n.pid)
    rss.watch('client', process.pid)
    rss.start()
    const client = await QfsClient.create({ node: devnet.nodes[0]!.multiaddrs[0]! })
    const size = SIZE_MIB * MIB
    const oid = objectId('bench-large', `${SIZE_MIB}MiB`)
    const sent = createHash('sha256')
    const chunks = (async function* () {
      for (const c of seededContent('large', size)) {
        sent.update(c)
        yield c
      }
    })()

    rss.phase = 'write'
    let t = performance.now()
    const put = await client.putContent(
      oid,
      1,
      { size, chunks },
      { author_node_id: 'bench', created_at_tick: 1 },
    )
    const writeMs = performance.now() - t
    if (!put.ok) throw new Error(`write failed: ${put.error_code} ${put.error_detail}`)

    rss.phase = 'read'
    const reader = await QfsClient.create({ node: devnet.nodes[2]!.multiaddrs[0]! })
    t = performance.now()
    const opened = await reader.readContent(oid, 1)
    if (!('content' in opened)) throw new Error(`read failed: ${opened.error_code}`)
    const got = createHash('sha256')
    let bytes = 0
    for await (const block of opened.content) {
      got.update(block)
      bytes += block.length
    }
    const readMs = performance.now() - t
    rss.sample()
    rss.stop()
    await client.close()
    await reader.close()

    const identical = bytes === size && got.digest('hex') === sent.digest('hex')
    const daemons = rss.report('qfs:')
    // RssAnon: VmRSS also counts the LevelDB table files a node maps while reading (page cache).
    const peak = Math.max(...Object.values(daemons).map((r) => r.max_anon_mib))
    const peakVm = Math.max(...Object.values(daemons).map((r) => r.max_mib))
    await writeReport('large', {
      method:
        'one object written through node-1 and read through node-3 of a 3-node devnet with the SDK, streamed both ways (AES-CTR keystream content); VmRSS and RssAnon of every daemon and the client sampled every 200 ms; the memory bound reads RssAnon (VmRSS also counts mapped LevelDB table files)',
      object: { bytes: size, hash_commit: put.hash_commit },
      write_mib_s: round(SIZE_MIB / (writeMs / 1000)),
      read_mib_s: round(SIZE_MIB / (readMs / 1000)),
      read_back_identical: identical,
      rss_mib: {
        daemons,
        client: rss.report('client').client,
        client_end_mib: round(vmRssMiB(process.pid) ?? 0),
      },
      targets: {
        daemon_rss_mib: rssTarget({ max_anon_mib: peak, max_vm_rss_mib: peakVm }, RSS_TARGET_MIB),
      },
    })
    if (!identical) process.exitCode = 1
  } finally {
    rss.stop()
    await devnet.stop()
    await rm(work, { recursive: true, force: true })
  }
}

await main()
