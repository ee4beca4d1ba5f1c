import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'

/**
 * What the benchmarks read of processes on Linux: resident memory and CPU time from /proc. These are
 * measurements only; nothing of them reaches a log.
 */

export function round(x: number, digits = 1): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
  return sorted[Math.max(0, i)]!
}

/** p50 and p99 (nearest rank) of latencies in any order, in ms to two decimals. */
export function latencyPercentiles(ms: readonly number[]): { p50: number; p99: number } {
  const sorted = [...ms].sort((a, b) => a - b)
  return { p50: round(percentile(sorted, 50), 2), p99: round(percentile(sorted, 99), 2) }
}

/**
 * Samples the resident memory of a changing set of processes. VmRSS counts file pages a process has
 * mapped, and LevelDB reads its tables through mmap, so a node that reads much data shows the page
 * cache in VmRSS; RssAnon is its own (heap, buffers, native allocations) and is what a memory bound
 * is about. Both are reported.
 */
interface RssPeak {
  max: number
  maxAnon: number
  samples: number
  sum: number
  phases: Record<string, number>
  anonPhases: Record<string, number>
}

interface RssReport {
  max_mib: number
  mean_mib: number
  max_anon_mib: number
  samples: number
  max_mib_by_phase: Record<string, number>
  max_anon_mib_by_phase: Record<string, number>
}

export class RssSampler {
  private readonly peaks = new Map<string, RssPeak>()
  private timer: NodeJS.Timeout | undefined
  private readonly watched = new Map<string, number>()
  /** What the network is doing now: the report gives each process's peak per phase. */
  phase = 'start'

  watch(name: string, pid: number): void {
    this.watched.set(name, pid)
  }

  unwatch(name: string): void {
    this.watched.delete(name)
  }

  start(): void {
    this.timer = setInterval(() => this.sample(), 200)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  sample(): void {
    for (const [name, pid] of this.watched) {
      const mem = residentMiB(pid)
      if (mem === undefined) continue
      const p = this.peaks.get(name) ?? { max: 0, maxAnon: 0, samples: 0, sum: 0, phases: {}, anonPhases: {} }
      p.max = Math.max(p.max, mem.rss)
      p.maxAnon = Math.max(p.maxAnon, mem.anon)
      p.phases[this.phase] = round(Math.max(p.phases[this.phase] ?? 0, mem.rss))
      p.anonPhases[this.phase] = round(Math.max(p.anonPhases[this.phase] ?? 0, mem.anon))
      p.samples++
      p.sum += mem.rss
      this.peaks.set(name, p)
    }
  }

  report(prefix: string): Record<string, RssReport> {
    const out: Record<string, RssReport> = {}
    for (const [name, p] of this.peaks) {
      if (!name.startsWith(prefix)) continue
      out[name] = {
        max_mib: round(p.max),
        mean_mib: round(p.sum / p.samples),
        max_anon_mib: round(p.maxAnon),
        samples: p.samples,
        max_mib_by_phase: p.phases,
        max_anon_mib_by_phase: p.anonPhases,
      }
    }
    return out
  }
}

/** CPU time (user + system, ms) of processes by pid, and of this process when `self`. */
export function cpuMs(pids: readonly number[], self: boolean): number {
  let total = 0
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
      // utime and stime, in clock ticks (USER_HZ = 100 on Linux).
      total += (Number(fields[11]) + Number(fields[12])) * 10
    } catch {
      // Exited.
    }
  }
  if (self) {
    const u = process.cpuUsage()
    total += (u.user + u.system) / 1000
  }
  return total
}

export function vmRssMiB(pid: number): number | undefined {
  return residentMiB(pid)?.rss
}

/** VmRSS and RssAnon of a process, in MiB (undefined once it exited). */
export function residentMiB(pid: number): { rss: number; anon: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const rss = /VmRSS:\s+(\d+) kB/.exec(status)
    const anon = /RssAnon:\s+(\d+) kB/.exec(status)
    if (rss === null || anon === null) return undefined
    return { rss: Number(rss[1]) / 1024, anon: Number(anon[1]) / 1024 }
  } catch {
    return undefined
  }
}

/**
 * Waits until `pids` together use less than `maxCores` of CPU over a `windowMs` window (work left
 * over from the step before: compactions, collections, connection upkeep), for at most `maxWaitMs`.
 * Returns how long it waited, and whether they went quiet.
 */
export async function waitForQuiet(
  pids: readonly number[],
  options: { windowMs?: number; maxCores?: number; maxWaitMs?: number } = {},
): Promise<{ waited_ms: number; quiet: boolean }> {
  const windowMs = options.windowMs ?? 500
  const maxCores = options.maxCores ?? 0.15
  const maxWaitMs = options.maxWaitMs ?? 20_000
  const start = performance.now()
  for (;;) {
    const before = cpuMs(pids, false)
    await new Promise((r) => setTimeout(r, windowMs))
    const used = (cpuMs(pids, false) - before) / windowMs
    const waited = Math.round(performance.now() - start)
    if (used < maxCores) return { waited_ms: waited, quiet: true }
    if (waited >= maxWaitMs) return { waited_ms: waited, quiet: false }
  }
}
