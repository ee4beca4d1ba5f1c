import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import {
  cpuMs,
  latencyPercentiles,
  percentile,
  RssSampler,
  residentMiB,
  round,
  waitForQuiet,
} from '../../src/bench/proc.js'

/**
 * The figures of evidence/bench/*.json come from these: a percentile off by one rank, CPU of the
 * wrong field of /proc/<pid>/stat or memory in the wrong unit would not show anywhere else.
 */

/** Nearest rank, by hand: the smallest value with at least p% of the values at or below it. */
function nearestRank(sorted: number[], p: number): number {
  for (let k = 1; k <= sorted.length; k++) if (k * 100 >= p * sorted.length) return sorted[k - 1]!
  throw new Error('unreachable')
}

/** A /proc/<pid>/status field in kB, read apart from src/bench/proc.ts. */
function statusKb(pid: number, field: string): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`))
  return Number(line!.split(/\s+/)[1])
}

const children: ChildProcess[] = []
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL')
})
function child(code: string): ChildProcess {
  const c = spawn(process.execPath, ['-e', code], { stdio: 'ignore' })
  children.push(c)
  return c
}

describe('percentile', () => {
  it('is the nearest rank of the sorted values', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 400 }),
        fc.integer({ min: 1, max: 100 }),
        (values, p) => {
          const sorted = [...values].sort((a, b) => a - b)
          expect(percentile(sorted, p)).toBe(nearestRank(sorted, p))
        },
      ),
      { seed: 41, numRuns: 300 },
    )
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1)
    expect([percentile(hundred, 50), percentile(hundred, 99), percentile(hundred, 100)]).toEqual([
      50, 99, 100,
    ])
    // 300 small operations, as bench:net runs: p99 is the 297th, p50 the 150th.
    const ops = Array.from({ length: 300 }, (_, i) => i + 1)
    expect([percentile(ops, 50), percentile(ops, 99)]).toEqual([150, 297])
    expect(percentile([7, 9, 10], 50)).toBe(9)
    expect(percentile([], 50)).toBeNaN()
  })

  it('latencyPercentiles sorts the latencies as measured, as numbers, and leaves them as they were', () => {
    // 300 latencies in the order they were measured: 1.005 ms .. 300.005 ms, shuffled.
    const measured = Array.from({ length: 300 }, (_, i) => ((i * 7919) % 300) + 1.005)
    const copy = [...measured]
    expect(latencyPercentiles(measured)).toEqual({ p50: 150.01, p99: 297.01 })
    expect(measured).toEqual(copy)
    // "10" sorts before "9" as text.
    expect(latencyPercentiles([10, 9, 2, 100])).toEqual({ p50: 9, p99: 100 })
  })

  it('round goes to the nearest, not down', () => {
    expect(round(1.26)).toBe(1.3)
    expect(round(1.23456, 2)).toBe(1.23)
    expect(round(2.675, 1)).toBe(2.7)
    expect(round(-1.26)).toBe(-1.3)
  })
})

describe('cpuMs', () => {
  it('reads utime + stime of /proc/<pid>/stat in ms, as the kernel counts this process', () => {
    const end = performance.now() + 400
    let x = 0
    while (performance.now() < end) x += Math.sqrt(x + 1)
    expect(x).toBeGreaterThan(0)
    const before = process.cpuUsage()
    const fromStat = cpuMs([process.pid], false)
    const after = process.cpuUsage()
    // Ticks of 10 ms, and the two clocks round apart: within a few ticks of getrusage.
    expect(fromStat).toBeGreaterThan((before.user + before.system) / 1000 - 50)
    expect(fromStat).toBeLessThan((after.user + after.system) / 1000 + 50)
    // An exited process counts nothing; a list counts each.
    expect(cpuMs([2 ** 22 + 12345], false)).toBe(0)
    expect(cpuMs([process.pid, process.pid], false)).toBeGreaterThan(fromStat * 1.5)
  })

  it('adds user and system time of this process when asked', () => {
    for (let i = 0; i < 2000; i++) readFileSync('/proc/self/stat')
    const before = process.cpuUsage()
    const self = cpuMs([], true)
    const after = process.cpuUsage()
    expect(before.system).toBeGreaterThan(0)
    expect(self).toBeGreaterThanOrEqual((before.user + before.system) / 1000)
    expect(self).toBeLessThanOrEqual((after.user + after.system) / 1000)
  })
})

describe('resident memory', () => {
  it('reads VmRSS and RssAnon in MiB', () => {
    const mem = residentMiB(process.pid)!
    expect(mem.rss).toBeCloseTo(statusKb(process.pid, 'VmRSS') / 1024, -1)
    expect(mem.anon).toBeCloseTo(statusKb(process.pid, 'RssAnon') / 1024, -1)
    // VmRSS also counts the mapped node binary: the two are different figures.
    expect(mem.rss - mem.anon).toBeGreaterThan(statusKb(process.pid, 'RssFile') / 1024 / 2)
    expect(residentMiB(2 ** 22 + 12345)).toBeUndefined()
  })

  it('samples the peak per process and per phase, and reports only the named prefix', () => {
    const rss = new RssSampler()
    rss.watch('gone', 2 ** 22 + 12345)
    rss.watch('qfs:self', process.pid)
    rss.watch('helia:q', process.pid)
    rss.phase = 'small'
    rss.sample()
    const low = residentMiB(process.pid)!
    const held = Buffer.alloc(96 * 1024 * 1024, 1)
    rss.phase = 'big'
    rss.sample()
    const high = residentMiB(process.pid)!
    expect(held[held.length - 1]).toBe(1)
    const report = rss.report('qfs:')
    expect(Object.keys(report)).toEqual(['qfs:self'])
    const r = report['qfs:self']!
    expect(r.samples).toBe(2)
    expect(r.max_mib).toBeCloseTo(high.rss, -1)
    expect(r.max_anon_mib).toBeCloseTo(high.anon, -1)
    expect(r.max_anon_mib).toBeLessThan(r.max_mib - 10)
    // The mean of the two samples, well below the peak after 96 MiB more.
    expect(r.mean_mib).toBeCloseTo((low.rss + high.rss) / 2, -1)
    expect(r.mean_mib).toBeLessThan(r.max_mib - 30)
    expect(Object.keys(r.max_mib_by_phase).sort()).toEqual(['big', 'small'])
    expect(r.max_mib_by_phase.big! - r.max_mib_by_phase.small!).toBeGreaterThan(60)
    expect(r.max_anon_mib_by_phase.big).toBeCloseTo(high.anon, -1)
    expect(r.max_anon_mib_by_phase.small).toBeCloseTo(low.anon, -1)
    expect(Object.keys(rss.report('helia:'))).toEqual(['helia:q'])
    rss.unwatch('qfs:self')
    rss.sample()
    expect(rss.report('qfs:')['qfs:self']!.samples).toBe(2)
  })
})

describe('waitForQuiet', () => {
  it('returns quiet for an idle process, and gives up on a busy one after maxWaitMs', async () => {
    const idle = child('setTimeout(() => {}, 60000)')
    const busy = child('for (;;) {}')
    await new Promise((r) => setTimeout(r, 300))
    const calm = await waitForQuiet([idle.pid!], { windowMs: 200 })
    expect(calm.quiet).toBe(true)
    expect(calm.waited_ms).toBeLessThan(1000)
    const loaded = await waitForQuiet([idle.pid!, busy.pid!], {
      windowMs: 250,
      maxCores: 0.3,
      maxWaitMs: 500,
    })
    expect(loaded.quiet).toBe(false)
    // Gives up at the first window ending past 500 ms (about 500), well before 2 x maxWaitMs.
    expect(loaded.waited_ms).toBeGreaterThanOrEqual(500)
    expect(loaded.waited_ms).toBeLessThan(950)
  })
})
