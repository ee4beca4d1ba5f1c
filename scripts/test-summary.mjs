// Prints `N passed, N failed` from vitest's JSON report; a missing report counts as a failure.
import { readFileSync } from 'node:fs'

const file = process.argv[2] ?? '.qfs-test-report.json'
let report
try {
  report = JSON.parse(readFileSync(file, 'utf8'))
} catch {
  console.log('0 passed, 1 failed')
  process.exit(1)
}
const passed = report.numPassedTests ?? 0
// A suite that failed outside its tests (at load, or in a beforeAll, its tests then skipped) has no
// failed test counted; count each as one failure so it cannot hide behind "0 failed".
const failedSuites = (report.testResults ?? []).filter(
  (s) => s.status === 'failed' && !(s.assertionResults ?? []).some((a) => a.status === 'failed'),
).length
const failed = (report.numFailedTests ?? 0) + failedSuites
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed > 0 || report.success === false ? 1 : 0)
