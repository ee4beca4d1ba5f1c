import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { runChaosCase } from './chaos-run.js'
import { chaosCase } from './chaos-schedule.js'
import { wideChaosCase } from './chaos-schedule-wide.js'

/**
 * A search campaign of the chaos test (chaos-consistency.test.ts), run by hand, never in CI: draws
 * QFS_CHAOS_RUNS cases of QFS_CHAOS_PROFILE (default or wide) from QFS_CHAOS_SEED and runs them all,
 * without stopping or shrinking at a failure, writing each failing case with its violations to the
 * directory QFS_CHAOS_CAMPAIGN names (replay one with QFS_CHAOS_CASE=file.json, which ignores the
 * extra `violations` field). The test fails if any case did.
 */

const DIR = process.env.QFS_CHAOS_CAMPAIGN
const RUNS = Number(process.env.QFS_CHAOS_RUNS ?? 100)
const SEED = Number(process.env.QFS_CHAOS_SEED ?? 1)
const PROFILE = process.env.QFS_CHAOS_PROFILE === 'wide' ? 'wide' : 'default'
const OPTIONS = { requestMs: 250, settleBoundMs: 8_000 }

describe('chaos campaign', () => {
  it.runIf(DIR !== undefined)(
    'runs every case and keeps the failing ones',
    { timeout: RUNS * 20_000 },
    async () => {
      mkdirSync(DIR!, { recursive: true })
      const cases = fc.sample(PROFILE === 'wide' ? wideChaosCase : chaosCase, { seed: SEED, numRuns: RUNS })
      const started = performance.now()
      const failed: string[] = []
      const totals: Record<string, number> = {}
      for (const [i, c] of cases.entries()) {
        const report = await runChaosCase(c, OPTIONS)
        for (const [k, n] of Object.entries(report.counts)) totals[k] = (totals[k] ?? 0) + n
        if (report.violations.length === 0) continue
        const file = join(DIR!, `${PROFILE}-${SEED}-${i}.json`)
        writeFileSync(file, JSON.stringify({ ...c, violations: report.violations }, null, 1))
        failed.push(file)
        console.log(
          `case ${i}: ${report.violations.length} violations -> ${file}\n  ${report.violations.join('\n  ')}`,
        )
      }
      const seconds = Math.round((performance.now() - started) / 1000)
      console.log(
        `campaign ${PROFILE} seed ${SEED}: ${cases.length} cases, ${failed.length} failing, ${seconds} s`,
      )
      console.log(JSON.stringify(totals))
      expect(failed).toEqual([])
    },
  )
})
