import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type CaseReport, runChaosCase } from './chaos-run.js'
import { type ChaosCase, chaosCase } from './chaos-schedule.js'
import { wideChaosCase } from './chaos-schedule-wide.js'

/**
 * Random interleavings of 2-4 concurrent writers, node faults (down, frozen, lossy and slow links),
 * reads, listings, proofs and staging sweeps over a 5-node in-process network, checked against the
 * claims of docs/consistency.md (chaos-steps.ts and chaos-run.ts quote the sentence each pins).
 * QFS_CHAOS_RUNS runs more cases, QFS_CHAOS_SEED from another seed, QFS_CHAOS_PROFILE=wide from the
 * wider generator of chaos-schedule-wide.ts, QFS_CHAOS_VERBOSE prints the tallies, QFS_CHAOS_SHRINK
 * shrinks a failing case, and QFS_CHAOS_CASE=file.json replays one case (chaos-cases/ keeps those
 * found). chaos-campaign.test.ts runs many cases without stopping at the first failure.
 * Message timings come from each case's seed but also from the machine's timing, so a failing case
 * may need a few replays.
 */

const RUNS = Number(process.env.QFS_CHAOS_RUNS ?? 30)
const SEED = Number(process.env.QFS_CHAOS_SEED ?? 0xc4a05)
const VERBOSE = process.env.QFS_CHAOS_VERBOSE !== undefined
const WIDE = process.env.QFS_CHAOS_PROFILE === 'wide'
const OPTIONS = { requestMs: 250, settleBoundMs: 8_000 }

describe('chaos: consistency claims under random faults', () => {
  it('no case breaks safety, acknowledged writes, latest reads, replay or settling', {
    timeout: 60_000 + RUNS * (WIDE ? 10_000 : 3_000),
  }, async () => {
    const totals: Record<string, number> = {}
    let cases = 0
    let slowest = 0
    await fc.assert(
      fc.asyncProperty(WIDE ? wideChaosCase : chaosCase, async (c) => {
        const report: CaseReport = await runChaosCase(c, OPTIONS)
        cases++
        slowest = Math.max(slowest, report.slowestMs)
        for (const [k, n] of Object.entries(report.counts)) totals[k] = (totals[k] ?? 0) + n
        expect(report.violations).toEqual([])
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: process.env.QFS_CHAOS_SHRINK === undefined },
    )
    if (VERBOSE) console.log({ cases, slowestMs: Math.round(slowest), totals })
    // The cases did exercise what they check (floors well under the tallies seen, which vary with timing).
    expect(totals.acks ?? 0).toBeGreaterThan(RUNS)
    expect(totals['latest reads with clean homes'] ?? 0).toBeGreaterThan(RUNS / 4)
    expect(totals['acknowledged reads with every node clean'] ?? 0).toBeGreaterThan(0)
  })

  it.runIf(process.env.QFS_CHAOS_CASE !== undefined)(
    'replays the case in QFS_CHAOS_CASE',
    {
      timeout: 60_000,
    },
    async () => {
      const c = JSON.parse(readFileSync(process.env.QFS_CHAOS_CASE!, 'utf8')) as ChaosCase
      const report = await runChaosCase(c, OPTIONS)
      console.log(JSON.stringify(report, null, 1))
      expect(report.violations).toEqual([])
    },
  )
})
