import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Devnet } from '../../src/daemon/devnet.js'

/**
 * An independent client: test/interop/python/ was written in Python from docs/protocol.md and the
 * specs alone (no code of ours, no libp2p library), so it checks the docs' claim that they are enough
 * to write a client, and checks our formulas and wire format against a second implementation. It
 * needs python3 with the `cryptography` package; without them the suite says so and skips.
 */

const HERE = fileURLToPath(new URL('.', import.meta.url))
const PY_DIR = join(HERE, 'python')
const REPO = join(HERE, '..', '..')

function pythonMissing(): string | undefined {
  const probe = spawnSync('python3', ['-c', 'import cryptography, hashlib; hashlib.sha3_256()'], {
    encoding: 'utf8',
  })
  if (probe.error !== undefined) return `python3 not runnable: ${probe.error.message}`
  if (probe.status !== 0) return `python3 lacks the cryptography package: ${probe.stderr.trim()}`
  return undefined
}

const missing = pythonMissing()
if (missing !== undefined) console.warn(`skipping the Python interop client: ${missing}`)

function runPython(script: string, args: string[], timeoutMs: number) {
  const run = spawnSync('python3', [join(PY_DIR, script), ...args], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 16 * 1024 * 1024,
  })
  return { status: run.status, out: `${run.stdout ?? ''}${run.stderr ?? ''}`, error: run.error }
}

describe.skipIf(missing !== undefined)('the Python client written from the docs alone', () => {
  it('computes every applicable conformance vector and the byte examples of docs/protocol.md', () => {
    const run = runPython('test_vectors.py', [], 60_000)
    expect(run.error).toBeUndefined()
    expect(run.out).toMatch(/vectors: \d+ passed, 0 failed/)
    expect(run.out).toMatch(/byte examples: \d+ passed, 0 failed/)
    expect(run.status).toBe(0)
  })

  describe('against five daemons and the reference CLI', () => {
    let dir: string
    let devnet: Devnet

    beforeAll(async () => {
      if (!existsSync(join(REPO, 'dist', 'cli', 'main.js'))) {
        throw new Error('the daemons run the compiled CLI: run `npm run build` first (npm test does)')
      }
      dir = await mkdtemp(join(tmpdir(), 'qfs-py-interop-'))
      devnet = await Devnet.start({ dir, nodes: 5, logLevel: 'warn' })
    }, 120_000)

    afterAll(async () => {
      await devnet?.stop()
      if (dir !== undefined) await rm(dir, { recursive: true, force: true })
    }, 60_000)

    it('writes, reads, proves and lists byte-identically both ways (0 B to 5 MiB)', () => {
      const run = runPython('e2e.py', ['--devnet', dir, '--repo', REPO], 280_000)
      expect(run.error).toBeUndefined()
      const failed = run.out.split('\n').filter((line) => line.startsWith('FAIL'))
      expect(failed).toEqual([])
      expect(run.out).toMatch(/\n0 failure\(s\)/)
      // Every size went both ways, so a run that silently skipped a part cannot pass.
      expect(run.out.split('\n').filter((line) => line.startsWith('ok')).length).toBeGreaterThanOrEqual(40)
      expect(run.status).toBe(0)
    }, 300_000)
  })
})
