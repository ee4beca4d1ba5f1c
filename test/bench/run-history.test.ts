import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { netRunFigures } from '../../src/bench/net-history.js'
import { appendRun, runLine, runSource } from '../../src/bench/run-history.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qfs-run-history-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const git = (...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: dir, encoding: 'utf8' })

describe('benchmark run history', () => {
  it('appends one parseable line per run and keeps the earlier ones', async () => {
    const runs = [1.25, 3.14, 2.5]
    for (const [i, read] of runs.entries()) {
      const line = runLine(
        'net',
        new Date(Date.UTC(2026, 10, 27, 16, i)),
        { commit: 'c', dirty: false },
        {},
        {
          ratios: { read },
        },
      )
      await appendRun('net', line, dir)
    }
    const text = await readFile(join(dir, 'evidence', 'bench', 'net-runs.jsonl'), 'utf8')
    const lines = text.split('\n')
    expect(lines.pop()).toBe('')
    expect(lines.map((l) => JSON.parse(l).ratios.read)).toEqual(runs)
    expect(JSON.parse(lines[1]!)).toMatchObject({
      benchmark: 'net',
      finished_at: '2026-11-27T16:01:00.000Z',
      commit: 'c',
      dirty: false,
    })
  })

  it('carries the settings and the machine of the run', () => {
    const settings = { total_mib: 256, objects: 4, warmup_mib: 128, small_ops: 300 }
    const line = JSON.parse(runLine('net', new Date(0), { commit: 'c', dirty: true }, settings, { x: 1 }))
    expect(line).toMatchObject({
      settings,
      commit: 'c',
      dirty: true,
      x: 1,
      finished_at: '1970-01-01T00:00:00.000Z',
    })
    expect(line.machine).toMatchObject({ node: process.version, cores: expect.any(Number) })
  })

  it('keeps each benchmark in its own history', async () => {
    const path = await appendRun('large', '{"benchmark":"large"}\n', dir)
    expect(path).toBe(join(dir, 'evidence', 'bench', 'large-runs.jsonl'))
    expect(await readFile(path, 'utf8')).toBe('{"benchmark":"large"}\n')
    await expect(readFile(join(dir, 'evidence', 'bench', 'net-runs.jsonl'))).rejects.toThrow(/ENOENT/)
  })

  it('refuses text that is not exactly one line', async () => {
    await expect(appendRun('net', '{}', dir)).rejects.toThrow(TypeError)
    await expect(appendRun('net', '{}\n{}\n', dir)).rejects.toThrow(TypeError)
  })

  it('names the commit, and counts changes outside evidence/ only as dirty', async () => {
    expect(runSource(dir)).toEqual({ commit: null, dirty: null })
    git('init', '-q')
    await writeFile(join(dir, 'code.ts'), 'a\n')
    execFileSync('mkdir', ['-p', join(dir, 'evidence', 'bench')])
    await writeFile(join(dir, 'evidence', 'bench', 'net.json'), '{}\n')
    git('add', '.')
    git('commit', '-q', '-m', 'one')
    const head = git('rev-parse', 'HEAD').trim()
    expect(runSource(dir)).toEqual({ commit: head, dirty: false })
    // The benchmark rewrites its own evidence: still the committed code.
    await writeFile(join(dir, 'evidence', 'bench', 'net.json'), '{"run":2}\n')
    expect(runSource(dir)).toEqual({ commit: head, dirty: false })
    // A file git does not track (a scratch note, a log) is not code the run measured.
    await writeFile(join(dir, 'notes.txt'), 'x\n')
    expect(runSource(dir)).toEqual({ commit: head, dirty: false })
    await writeFile(join(dir, 'code.ts'), 'b\n')
    expect(runSource(dir)).toEqual({ commit: head, dirty: true })
  })
})

describe('net run figures', () => {
  it('reads the committed net report, agreeing with its targets section', async () => {
    const report = JSON.parse(await readFile('evidence/bench/net.json', 'utf8'))
    const figures = netRunFigures(report) as {
      ratios: { write: number; read: number }
      rounds: { write: number[]; read: number[] }
      small_ms: Record<string, number>
      daemon_rss_anon_mib: number
      targets_pass: Record<string, boolean>
    }
    const t = report.targets
    expect(figures.ratios).toEqual({ write: t.write_ratio.value, read: t.read_ratio.value })
    expect(figures.small_ms).toEqual({
      put_p50: t.small_put_p50_ms.value,
      put_p99: t.small_put_p99_ms.value,
      get_p50: t.small_get_p50_ms.value,
      get_p99: t.small_get_p99_ms.value,
    })
    expect(figures.daemon_rss_anon_mib).toBe(t.daemon_rss_mib.value)
    expect(figures.rounds.read).toHaveLength(report.ours.objects.length)
    expect(Object.values(figures.targets_pass).filter((p) => p).length).toBe(
      Object.values(t as Record<string, { pass: boolean }>).filter((x) => x.pass).length,
    )
    expect(JSON.parse(runLine('net', new Date(0), { commit: null, dirty: null }, {}, figures))).toMatchObject(
      figures,
    )
  })

  it('refuses a report missing a figure', async () => {
    const report = JSON.parse(await readFile('evidence/bench/net.json', 'utf8'))
    delete report.ours.small_objects.get_p99_ms
    expect(() => netRunFigures(report)).toThrow(/ours\.small_objects\.get_p99_ms/)
    expect(() => netRunFigures({})).toThrow(TypeError)
  })
})

describe('the committed run history', () => {
  it('is one JSON object per line, each naming its code, settings and every figure', async () => {
    const text = await readFile('evidence/bench/net-runs.jsonl', 'utf8')
    expect(text.endsWith('\n')).toBe(true)
    const lines = text.slice(0, -1).split('\n')
    expect(lines.length).toBeGreaterThan(0)
    let previous = ''
    for (const line of lines) {
      const run = JSON.parse(line)
      expect(run.benchmark).toBe('net')
      expect(run.commit).toMatch(/^[0-9a-f]{40}$/)
      expect(typeof run.dirty).toBe('boolean')
      // Runs before the small-object warm-up (2026-11-28) have no small_warmup_ops: they had none.
      const settings = ['objects', 'small_ops', 'total_mib', 'warmup_mib']
      expect([settings, [...settings, 'small_warmup_ops'].sort()]).toContainEqual(
        Object.keys(run.settings).sort(),
      )
      expect(Object.keys(run.small_ms).sort()).toEqual(['get_p50', 'get_p99', 'put_p50', 'put_p99'])
      expect(run.rounds.read).toHaveLength(run.settings.objects)
      // Appended in the order the runs ended.
      expect(run.finished_at > previous).toBe(true)
      previous = run.finished_at
    }
  })
})
