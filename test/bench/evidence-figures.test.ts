import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'

/**
 * The committed evidence/bench/core.json, log.json and net.json agree with themselves: each pass
 * is its value against its target, each ratio the quotient of the figures it is quoted beside. A
 * report written by a benchmark that compares or divides the wrong way fails here once committed.
 */

const json = async (name: string) => JSON.parse(await readFile(`evidence/bench/${name}.json`, 'utf8'))

describe('committed benchmark reports', () => {
  it('core.json: the hashing ratio is protocol over plain, and each pass is at least its target', async () => {
    const { hashing, placement } = (await json('core')).results
    expect(hashing.ratio).toBeCloseTo(hashing.hash_commit_and_merkle_mib_s / hashing.plain_sha3_mib_s, 2)
    expect(hashing.pass).toBe(hashing.ratio >= hashing.target_ratio)
    expect(placement.pass).toBe(placement.placements_per_s >= placement.target_per_s)
  })

  it('log.json: the target is held by the concurrent run, and each rate is entries over seconds', async () => {
    const log = await json('log')
    for (const run of Object.values(log.runs) as Array<{
      entries: number
      seconds: number
      entries_per_s: number
    }>) {
      expect(Math.abs(run.entries_per_s - run.entries / run.seconds)).toBeLessThan(
        run.entries_per_s * 0.001 + 1,
      )
    }
    expect(log.meets_target).toBe(log.runs.concurrent.entries_per_s >= log.target_entries_per_s)
    expect(Object.values(log.runs).every((r) => (r as { verify_ok: boolean }).verify_ok)).toBe(true)
  })

  it('net.json: ratios are ours over Helia, each round is quoted, and all_targets_pass is every pass', async () => {
    const net = await json('net')
    expect(net.ratios.write).toBeCloseTo(net.ours.write_mib_s / net.helia.write_mib_s, 2)
    expect(net.ratios.read).toBeCloseTo(net.ours.read_mib_s / net.helia.read_mib_s, 2)
    expect(net.ratios.write_cpu_efficiency).toBeCloseTo(
      net.helia.write_cpu_ms_per_mib / net.ours.write_cpu_ms_per_mib,
      2,
    )
    expect(net.ratios.read_cpu_efficiency).toBeCloseTo(
      net.helia.read_cpu_ms_per_mib / net.ours.read_cpu_ms_per_mib,
      2,
    )
    expect(net.rounds).toHaveLength(net.ours.objects.length)
    for (const [j, r] of net.rounds.entries()) {
      expect(r.round).toBe(j)
      expect(r.first).toBe(j % 2 === 0 ? 'ours' : 'helia')
      expect(r.ratios.write).toBeCloseTo(r.ours.write_mib_s / r.helia.write_mib_s, 1)
      expect(r.ratios.read).toBeCloseTo(r.ours.read_mib_s / r.helia.read_mib_s, 1)
    }
    const pass = Object.values(net.targets as Record<string, { pass: boolean }>).map((t) => t.pass)
    expect(net.all_targets_pass).toBe(pass.every((p) => p))
    expect(net.ours.small_objects.put_p50_ms).toBeLessThanOrEqual(net.ours.small_objects.put_p99_ms)
    expect(net.ours.small_objects.get_p50_ms).toBeLessThanOrEqual(net.ours.small_objects.get_p99_ms)
  })
})
