import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from './run.js'

/**
 * The ranges docs/operations.md "Commands" gives the flags described there: a value just outside
 * each is refused as a usage error (INVALID_ARGUMENT, exit 2) naming that range, before the command
 * does anything. The ranges are read from the doc.
 */

const ops = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8').replace(/\s+/g, ' ')
const commands = ops.slice(ops.indexOf('## Commands'), ops.indexOf('## Command-line errors'))

function range(pattern: RegExp): [number, number] {
  const m = pattern.exec(commands)
  if (m === null) throw new Error(`the Commands section no longer says ${pattern}`)
  return [Number(m[1]), Number(m[2])]
}

const NODE = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
let root = ''
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-command-ranges-'))
})
afterAll(async () => {
  if (root !== '') await rm(root, { recursive: true, force: true })
})

/** [flag, its range in the doc, the command line with the value in place of `V`]. */
const CASES: Array<[string, RegExp, () => string[]]> = [
  [
    'status --timeout-ms',
    /`status --timeout-ms N`: [^,]*, (\d+)\.\.(\d+)/,
    () => ['status', '--api', 'http://127.0.0.1:1', '--timeout-ms', 'V'],
  ],
  ['ls --limit', /`--limit` is the page size, (\d+)\.\.(\d+)/, () => ['ls', '--node', NODE, '--limit', 'V']],
  [
    'devnet --nodes',
    /`--nodes` (\d+)\.\.(\d+) \(default 5, or as many as D holds\)/,
    () => ['devnet', '--dir', join(root, 'd'), '--nodes', 'V'],
  ],
  [
    'devnet --base-port',
    /`--base-port P` \((\d+)\.\.(\d+)\)/,
    () => ['devnet', '--dir', join(root, 'd'), '--base-port', 'V'],
  ],
  [
    'devnet --start-timeout-ms',
    /before `SIGKILL`, each (\d+)\.\.(\d+)/,
    () => ['devnet', '--dir', join(root, 'd'), '--start-timeout-ms', 'V'],
  ],
  [
    'devnet --stop-timeout-ms',
    /before `SIGKILL`, each (\d+)\.\.(\d+)/,
    () => ['devnet', '--dir', join(root, 'd'), '--stop-timeout-ms', 'V'],
  ],
  [
    'quickstart --nodes',
    /`quickstart`: `--dir` \(default `\.qfs-demo`\), `--nodes` (\d+)\.\.(\d+)/,
    () => ['quickstart', '--dir', join(root, 'q'), '--nodes', 'V'],
  ],
  ['demo --size', /size in bytes, (\d+)\.\.(\d+)/, () => ['demo', '--size', 'V']],
]

describe('docs/operations.md Commands: flag ranges', () => {
  it.each(CASES)('refuses %s just outside its range', async (flag, pattern, argv) => {
    const [min, max] = range(pattern)
    for (const value of [min - 1, max + 1].filter((v) => v >= 0)) {
      const r = await runCli(argv().map((a) => (a === 'V' ? String(value) : a)))
      expect({ flag, value, status: r.status }).toEqual({ flag, value, status: 2 })
      expect(r.stderr).toBe(
        `error [INVALID_ARGUMENT]: ${flag.split(' ')[1]} must be an integer in ${min}..${max}, not "${value}"\n`,
      )
    }
  })

  it('refuses put --version 0 ("1 or more")', async () => {
    expect(commands).toContain('`put --version N` (1 or more)')
    const r = await runCli([
      'put',
      '/etc/hostname',
      '--node',
      NODE,
      '--namespace',
      'a',
      '--id',
      'b',
      '--version',
      '0',
    ])
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/^error \[INVALID_ARGUMENT\]: --version must be an integer in 1\.\./)
  })
})
