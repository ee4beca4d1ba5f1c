import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli } from './run.js'

const VECTORS = 'test/vectors/core-public.json'

describe('qfs-node conformance', () => {
  it('passes the public vectors in full', async () => {
    const r = await runCli(['conformance', VECTORS])
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/^68 cases: 68 passed, 0 failed\n$/)
  })

  it('prints the computed values with --json, shaped like each case', async () => {
    const r = await runCli(['conformance', VECTORS, '--json'])
    expect(r.status).toBe(0)
    const file = JSON.parse(await readFile(VECTORS, 'utf8'))
    const out = JSON.parse(r.stdout)
    expect(out.results).toHaveLength(file.cases.length)
    for (const [i, c] of file.cases.entries()) {
      const got = out.results[i]
      expect(got.id).toBe(c.id)
      if (c.error !== undefined) expect(got).toEqual({ id: c.id, error: c.error })
      else expect(got).toEqual({ id: c.id, result: c.expected })
    }
  })

  it('names a failing case and exits 1', async () => {
    const file = JSON.parse(await readFile(VECTORS, 'utf8'))
    file.cases[0].expected.object_id = 'f'.repeat(64)
    file.cases[44].error = 'OVERFLOW'
    const dir = await mkdtemp(join(tmpdir(), 'qfs-conf-'))
    await writeFile(join(dir, 'v.json'), JSON.stringify(file))
    const r = await runCli(['conformance', join(dir, 'v.json')])
    expect(r.status).toBe(1)
    const lines = r.stdout.trim().split('\n')
    expect(lines.filter((l) => l.startsWith('FAIL'))).toHaveLength(2)
    expect(lines[0]).toMatch(new RegExp(`^FAIL ${file.cases[0].id} \\(object_id\\)`))
    expect(lines.at(-1)).toBe('68 cases: 66 passed, 2 failed')
  })

  it('refuses a file that is not a vector file with a usage error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qfs-conf-'))
    await writeFile(join(dir, 'bad.json'), '{"format": "something-else", "cases": []}')
    const bad = await runCli(['conformance', join(dir, 'bad.json')])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/^error \[INVALID_INPUT\]/)
    // JSON.parse quotes the text around the fault, newline and all: the error stays one line.
    await writeFile(join(dir, 'text.json'), 'hello\n')
    const text = await runCli(['conformance', join(dir, 'text.json')])
    expect(text.status).toBe(2)
    expect(text.stderr).toBe(
      `error [INVALID_INPUT]: vector file ${join(dir, 'text.json')} is not JSON: Unexpected token 'h', "hello\\n" is not valid JSON\n`,
    )
    const missing = await runCli(['conformance', join(dir, 'nope.json')])
    expect(missing.status).toBe(2)
    const noArg = await runCli(['conformance'])
    expect(noArg.status).toBe(2)
  })
})

describe('qfs-node demo', () => {
  it('splits, places and proves a sample object', async () => {
    const r = await runCli(['demo', '--json', '--size', '700000'])
    expect(r.status).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.shards).toHaveLength(4)
    expect(out.proof.verified).toBe(true)
    expect((await runCli(['demo', '--size', 'lots'])).status).toBe(2)
  })
})
