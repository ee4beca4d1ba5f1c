// CPU and wall time of one LevelDB read on this machine, three ways, on a one-key classic-level
// database: an async get (a round trip through libuv's thread pool), the synchronous getSync (on the
// calling thread), and an iterator's first next() plus its close() (two round trips), as a commit's
// index lookup does (src/store/commit.ts). Two passes of each; one line per pass.
//
//   node scripts/measure/leveldb-call-cost.mjs     (through npx node on Node 20 machines)
//
// N (default 5000) calls per pass.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'

const n = Number(process.env.N ?? 5000)
const dir = await mkdtemp(join(tmpdir(), 'leveldb-call-cost-'))
const db = new ClassicLevel(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
try {
  await db.open()
  await db.put('k', 'v')
  const ways = {
    get_async: () => db.get('k'),
    get_sync: () => db.getSync('k'),
    iterator_next_close: async () => {
      const it = db.values({ gte: 'j', lt: 'l', reverse: true })
      await it.next()
      await it.close()
    },
  }
  for (let pass = 0; pass < 2; pass++) {
    for (const [way, call] of Object.entries(ways)) {
      const cpu = process.cpuUsage()
      const started = performance.now()
      for (let i = 0; i < n; i++) await call()
      const used = process.cpuUsage(cpu)
      console.log(
        JSON.stringify({
          pass,
          way,
          cpu_us: Number(((used.user + used.system) / n).toFixed(1)),
          wall_us: Number((((performance.now() - started) * 1000) / n).toFixed(1)),
        }),
      )
    }
  }
} finally {
  await db.close()
  await rm(dir, { recursive: true, force: true })
}
