import { describe, expect, it } from 'vitest'
import { netRunFigures } from '../../src/bench/net-history.js'
import { type BulkStep, bulkSummary } from '../../src/bench/net-systems.js'

/**
 * A net report whose every figure is a different number, so a history line that reads one figure
 * for another (write for read, ours for Helia, a round dropped) differs from the one written here.
 */
function report(): Record<string, unknown> {
  return {
    ours: {
      write_mib_s: 11,
      read_mib_s: 12,
      write_cpu_ms_per_mib: 13,
      read_cpu_ms_per_mib: 14,
      small_objects: { put_p50_ms: 1.5, put_p99_ms: 9.5, get_p50_ms: 2.5, get_p99_ms: 8.5 },
    },
    helia: { write_mib_s: 21, read_mib_s: 22, write_cpu_ms_per_mib: 23, read_cpu_ms_per_mib: 24 },
    ratios: { write: 0.52, read: 0.55 },
    rounds: [
      { ratios: { write: 0.41, read: 0.61 } },
      { ratios: { write: 0.42, read: 0.62 } },
      { ratios: { write: 0.43, read: 0.63 } },
    ],
    targets: {
      write_ratio: { value: 0.52, pass: false },
      read_ratio: { value: 0.55, pass: true },
      small_put_p50_ms: { value: 1.5, pass: 'yes' },
      small_get_p50_ms: { value: 2.5 },
      daemon_rss_mib: { value: 111.9, vm_rss_including_mapped_files: 250, pass: true },
    },
  }
}

describe('net run figures, figure by figure', () => {
  it('reads each figure from its own place', () => {
    expect(netRunFigures(report())).toEqual({
      ratios: { write: 0.52, read: 0.55 },
      rounds: { write: [0.41, 0.42, 0.43], read: [0.61, 0.62, 0.63] },
      mib_s: { ours: { write: 11, read: 12 }, helia: { write: 21, read: 22 } },
      cpu_ms_per_mib: { ours: { write: 13, read: 14 }, helia: { write: 23, read: 24 } },
      small_ms: { put_p50: 1.5, put_p99: 9.5, get_p50: 2.5, get_p99: 8.5 },
      daemon_rss_anon_mib: 111.9,
      // Only a literal true passes: a missing or odd pass is a failed target.
      targets_pass: {
        write_ratio: false,
        read_ratio: true,
        small_put_p50_ms: false,
        small_get_p50_ms: false,
        daemon_rss_mib: true,
      },
    })
  })

  it('refuses a figure that is not a finite number', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, null, '12']) {
      const r = report() as { helia: Record<string, unknown> }
      r.helia.read_mib_s = bad
      expect(() => netRunFigures(r), String(bad)).toThrow(/helia\.read_mib_s/)
    }
    const r = report() as { rounds: Array<{ ratios: Record<string, unknown> }> }
    r.rounds[2]!.ratios.read = Number.NaN
    expect(() => netRunFigures(r)).toThrow(/ratios\.read/)
  })
})

describe('bulkSummary', () => {
  const step = (write_ms: number, read_ms: number, write_cpu_ms: number, read_cpu_ms: number): BulkStep => ({
    write_ms,
    read_ms,
    write_cpu_ms,
    read_cpu_ms,
    object: {},
  })

  it('is the total MiB over the total time and the total CPU over the total MiB', () => {
    const MIB = 1024 * 1024
    // Two objects of 64 MiB: 128 MiB written in 2 + 6 = 8 s, read in 1 + 3 = 4 s.
    const steps = [step(2000, 1000, 640, 320), step(6000, 3000, 1920, 1280)]
    expect(bulkSummary(steps, 64 * MIB)).toEqual({
      write_mib_s: 16,
      read_mib_s: 32,
      write_cpu_ms_per_mib: 20,
      read_cpu_ms_per_mib: 12.5,
    })
    // Two decimals for MiB/s, one for CPU: 100 MiB in 3 s and 333 ms of CPU.
    expect(bulkSummary([step(3000, 7000, 333, 1)], 100 * MIB)).toEqual({
      write_mib_s: 33.33,
      read_mib_s: 14.29,
      write_cpu_ms_per_mib: 3.3,
      read_cpu_ms_per_mib: 0,
    })
  })
})
