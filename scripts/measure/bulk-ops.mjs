// Bulk write and read on the benchmark's own 5-node network (src/bench/net-systems.ts, ours only):
// two 64 MiB objects of warm-up, then three measured ones; MiB/s and CPU per MiB of every process
// of ours (daemons and client), as `npm run bench:net` counts them. One line per run.
//
//   npm run build && node scripts/measure/bulk-ops.mjs     (through npx node on Node 20 machines)
//
// For comparing two commits by alternating runs, as scripts/measure/small-ops.mjs describes.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { OursNetwork } from '../../dist/bench/net-systems.js'
import { RssSampler } from '../../dist/bench/proc.js'

const MIB = 1024 * 1024
const work = await mkdtemp(join(tmpdir(), 'bulk-ops-'))
const rss = new RssSampler()
const net = new OursNetwork(rss, 5)
try {
  await net.start(work)
  for (const label of ['warm-0', 'warm-1']) await net.bulk(label, 64 * MIB)
  let writeMs = 0
  let readMs = 0
  let writeCpu = 0
  let readCpu = 0
  for (let i = 0; i < 3; i++) {
    const step = await net.bulk(`measured-${i}`, 64 * MIB)
    writeMs += step.write_ms
    readMs += step.read_ms
    writeCpu += step.write_cpu_ms
    readCpu += step.read_cpu_ms
  }
  const mib = 3 * 64
  console.log(
    JSON.stringify({
      write_mib_s: Number((mib / (writeMs / 1000)).toFixed(1)),
      write_cpu_ms_per_mib: Number((writeCpu / mib).toFixed(1)),
      read_mib_s: Number((mib / (readMs / 1000)).toFixed(1)),
      read_cpu_ms_per_mib: Number((readCpu / mib).toFixed(1)),
    }),
  )
} finally {
  await net.stop()
  rss.stop?.()
  await rm(work, { recursive: true, force: true })
}
