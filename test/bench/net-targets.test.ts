import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import {
  allTargetsPass,
  median,
  NET_TARGETS,
  netRatios,
  netTargets,
  rssTarget,
  type SideFigures,
} from '../../src/bench/net-targets.js'

/** bench:net's targets and ratios, each at and just past its bound. */

const side = (write: number, read: number, writeCpu: number, readCpu: number): SideFigures => ({
  write_mib_s: write,
  read_mib_s: read,
  write_cpu_ms_per_mib: writeCpu,
  read_cpu_ms_per_mib: readCpu,
})
const SMALL = { put_p50_ms: 1, put_p99_ms: 2, get_p50_ms: 3, get_p99_ms: 4 }
const RSS = { max_anon_mib: 100, max_vm_rss_mib: 150 }

describe('median', () => {
  it('is the middle value, or the mean of the two middle ones, whatever the order', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(median([10, 1])).toBe(5.5)
    expect(median([0.9, 5, 1.1, 1.3, 1.2])).toBe(1.2)
    expect(median([7])).toBe(7)
    // Sorted as numbers, not as text ("10" < "2").
    expect(median([10, 9, 2])).toBe(9)
  })
})

describe('netRatios', () => {
  it('puts ours over Helia for throughput and Helia over ours for CPU', () => {
    const ours = side(40, 90, 20, 10)
    const helia = side(10, 30, 50, 35)
    expect(netRatios(ours, helia, [1.5, 4, 3.2, 3.6], [2.9, 3.1, 30])).toEqual({
      write: 4,
      read: 3,
      write_median_round: 3.4,
      read_median_round: 3.1,
      write_cpu_efficiency: 2.5,
      read_cpu_efficiency: 3.5,
    })
  })
})

describe('netTargets', () => {
  const targets = (ours: SideFigures, helia: SideFigures, small = SMALL, rss = RSS) =>
    netTargets(ours, helia, small, rss)

  it('holds a throughput ratio at its minimum and fails it just below, compared unrounded', () => {
    const h = side(10, 10, 1, 1)
    const at = targets(side(40, 30, 1, 1), h)
    expect(at.write_ratio).toEqual({ value: 4, target: '>= 4', pass: true })
    expect(at.read_ratio).toEqual({ value: 3, target: '>= 3', pass: true })
    // 3.999 rounds to 4.00, but is short of 4.
    const below = targets(side(39.99, 29.99, 1, 1), h)
    expect(below.write_ratio).toEqual({ value: 4, target: '>= 4', pass: false })
    expect(below.read_ratio).toEqual({ value: 3, target: '>= 3', pass: false })
    // Ours over Helia: Helia faster is a ratio below 1.
    expect(targets(side(10, 10, 1, 1), side(40, 30, 1, 1)).read_ratio.value).toBe(0.33)
  })

  const LATENCY_TARGETS = [
    'small_put_p50_ms',
    'small_get_p50_ms',
    'small_put_p99_ms',
    'small_get_p99_ms',
  ] as const

  it('holds each latency strictly under its maximum', () => {
    const h = side(1, 1, 1, 1)
    const under = targets(h, h, { put_p50_ms: 4.99, get_p50_ms: 4.99, put_p99_ms: 24.99, get_p99_ms: 24.99 })
    for (const name of LATENCY_TARGETS) {
      expect(under[name].pass, name).toBe(true)
    }
    expect(under.small_put_p50_ms).toEqual({ value: 4.99, target: '< 5', pass: true })
    expect(under.small_get_p99_ms).toEqual({ value: 24.99, target: '< 25', pass: true })
    const at = targets(h, h, { put_p50_ms: 5, get_p50_ms: 5, put_p99_ms: 25, get_p99_ms: 25 })
    for (const name of LATENCY_TARGETS) {
      expect(at[name].pass, name).toBe(false)
    }
    // Each target reads its own figure.
    const one = targets(h, h, { put_p50_ms: 1, get_p50_ms: 6, put_p99_ms: 30, get_p99_ms: 2 })
    expect(
      (['small_put_p50_ms', 'small_get_p50_ms', 'small_put_p99_ms', 'small_get_p99_ms'] as const).map((n) => [
        one[n].value,
        one[n].pass,
      ]),
    ).toEqual([
      [1, true],
      [6, false],
      [30, false],
      [2, true],
    ])
  })

  it('holds memory on RssAnon, not VmRSS, strictly under the maximum', () => {
    const h = side(1, 1, 1, 1)
    // Mapped LevelDB files put VmRSS over the bound: still within it.
    expect(targets(h, h, SMALL, { max_anon_mib: 199.94, max_vm_rss_mib: 420.06 }).daemon_rss_mib).toEqual({
      value: 199.9,
      vm_rss_including_mapped_files: 420.1,
      target: '< 200',
      pass: true,
    })
    expect(targets(h, h, SMALL, { max_anon_mib: 200, max_vm_rss_mib: 150 }).daemon_rss_mib.pass).toBe(false)
  })

  it('gives the committed large.json its memory target again', async () => {
    const report = JSON.parse(await readFile('evidence/bench/large.json', 'utf8'))
    const daemons = Object.values(
      report.rss_mib.daemons as Record<string, { max_mib: number; max_anon_mib: number }>,
    )
    expect(
      rssTarget(
        {
          max_anon_mib: Math.max(...daemons.map((d) => d.max_anon_mib)),
          max_vm_rss_mib: Math.max(...daemons.map((d) => d.max_mib)),
        },
        200,
      ),
    ).toEqual(report.targets.daemon_rss_mib)
    expect(rssTarget({ max_anon_mib: 199.99, max_vm_rss_mib: 900 }, 200).pass).toBe(true)
    expect(rssTarget({ max_anon_mib: 200, max_vm_rss_mib: 100 }, 200).pass).toBe(false)
  })

  it('passes all only when every target passes', () => {
    const h = side(10, 10, 1, 1)
    const all = targets(side(50, 50, 1, 1), h)
    expect(allTargetsPass(all)).toBe(true)
    expect(allTargetsPass({ ...all, read_ratio: { ...all.read_ratio, pass: false } })).toBe(false)
    expect(allTargetsPass(targets(side(50, 50, 1, 1), h, { ...SMALL, get_p99_ms: 25 }))).toBe(false)
  })

  it('gives the committed net.json its targets again', async () => {
    const report = JSON.parse(await readFile('evidence/bench/net.json', 'utf8'))
    const rss = Object.values(
      report.rss_mib.ours as Record<string, { max_mib: number; max_anon_mib: number }>,
    )
    const again = netTargets(report.ours, report.helia, report.ours.small_objects, {
      max_anon_mib: Math.max(...rss.map((r) => r.max_anon_mib)),
      max_vm_rss_mib: Math.max(...rss.map((r) => r.max_mib)),
    })
    expect(again).toEqual(report.targets)
    expect(allTargetsPass(again)).toBe(report.all_targets_pass)
    expect(NET_TARGETS.rss_mib_max).toBe(200)
  })
})
