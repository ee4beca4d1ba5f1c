import { readFileSync, writeFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { runChaosCase } from './chaos-run.js'
import type { ChaosCase } from './chaos-schedule.js'

/**
 * Shrinks a failing chaos case by hand (a campaign's cases come from fc.sample, which fast-check
 * cannot shrink): QFS_CHAOS_SHRINK_CASE=file.json, and QFS_CHAOS_SHRINK_MATCH=text, a piece of the
 * violation to keep. Drops one step at a time, keeps a removal when a replay (up to
 * QFS_CHAOS_SHRINK_TRIES, default 2) still shows the violation, and writes the result beside the file
 * as .min.json. Replays depend on the machine's timing too, so the result is a candidate to replay.
 */

const FILE = process.env.QFS_CHAOS_SHRINK_CASE
const MATCH = process.env.QFS_CHAOS_SHRINK_MATCH ?? ''
const TRIES = Number(process.env.QFS_CHAOS_SHRINK_TRIES ?? 2)
const OPTIONS = { requestMs: 250, settleBoundMs: 8_000 }

describe('chaos shrink', () => {
  it.runIf(FILE !== undefined)(
    'drops the steps a violation does not need',
    { timeout: 3_600_000 },
    async () => {
      const { violations: _, ...original } = JSON.parse(readFileSync(FILE!, 'utf8')) as ChaosCase & {
        violations?: string[]
      }
      const fails = async (c: ChaosCase, tries = TRIES): Promise<string[] | undefined> => {
        for (let t = 0; t < tries; t++) {
          const report = await runChaosCase(c, OPTIONS)
          if (report.violations.some((v) => v.includes(MATCH))) return report.violations
        }
        return undefined
      }
      let current: ChaosCase = original
      let last = await fails(current, 5 * TRIES)
      expect(last).toBeDefined()
      for (let i = current.steps.length - 1; i >= 0; i--) {
        const candidate = { ...current, steps: current.steps.filter((_, j) => j !== i) }
        const v = await fails(candidate)
        if (v !== undefined) {
          current = candidate
          last = v
          console.log(`dropped step ${i}: ${current.steps.length} left`)
        }
      }
      const out = FILE!.replace(/\.json$/, '.min.json')
      writeFileSync(out, JSON.stringify({ ...current, violations: last }, null, 1))
      console.log(
        `${current.steps.length} steps -> ${out}\n${JSON.stringify(current.steps)}\n${last!.join('\n')}`,
      )
    },
  )
})
