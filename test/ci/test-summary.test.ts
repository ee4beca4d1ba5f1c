import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// .ci/run's last line comes from scripts/test-summary.mjs: a run that failed must never read "0 failed".

const SCRIPT = fileURLToPath(new URL('../../scripts/test-summary.mjs', import.meta.url))
let dir = ''
let reports = 0
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qfs-test-summary-'))
})
afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true })
})

async function summarize(report: unknown): Promise<{ line: string; status: number | null }> {
  const file = join(dir, `report-${++reports}.json`)
  await writeFile(file, JSON.stringify(report))
  const run = spawnSync(process.execPath, [SCRIPT, file], { encoding: 'utf8' })
  return { line: run.stdout.trim(), status: run.status }
}

const suite = (status: string, tests: string[]) => ({
  status,
  assertionResults: tests.map((s) => ({ status: s })),
})

describe('scripts/test-summary.mjs', () => {
  it('prints the passed and failed tests of a green run and exits 0', async () => {
    const report = {
      success: true,
      numPassedTests: 3,
      numFailedTests: 0,
      testResults: [suite('passed', ['passed', 'passed']), suite('passed', ['passed'])],
    }
    expect(await summarize(report)).toEqual({ line: '3 passed, 0 failed', status: 0 })
  })

  it('counts failed tests', async () => {
    const report = {
      success: false,
      numPassedTests: 1,
      numFailedTests: 1,
      testResults: [suite('failed', ['passed', 'failed'])],
    }
    expect(await summarize(report)).toEqual({ line: '1 passed, 1 failed', status: 1 })
  })

  it('counts a suite that failed outside its tests, at load or in a beforeAll that skipped them', async () => {
    const report = {
      success: false,
      numPassedTests: 2,
      numFailedTests: 0,
      testResults: [
        suite('failed', []),
        suite('failed', ['skipped', 'skipped']),
        suite('passed', ['passed', 'passed']),
      ],
    }
    expect(await summarize(report)).toEqual({ line: '2 passed, 2 failed', status: 1 })
  })

  it('counts a missing report as a failure', async () => {
    const run = spawnSync(process.execPath, [SCRIPT, join(dir, 'none.json')], { encoding: 'utf8' })
    expect({ line: run.stdout.trim(), status: run.status }).toEqual({ line: '0 passed, 1 failed', status: 1 })
  })
})
