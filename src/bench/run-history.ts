import { execFileSync } from 'node:child_process'
import { appendFile, mkdir } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { machine } from './report.js'

/**
 * Every run of a benchmark leaves one line in `evidence/bench/<name>-runs.jsonl`, whatever its
 * figures: the committed `<name>.json` is one run, and on a shared machine one run says little, so
 * the history is what shows how often a target holds. Lines are only appended, never rewritten.
 */

/** The code a run measured: the commit, and whether files outside evidence/ differed from it. */
export interface RunSource {
  commit: string | null
  /** Tracked files other than evidence/ changed: the run measured code no commit holds. */
  dirty: boolean | null
}

/** The commit checked out in `cwd`; nulls when git or the repository is not there. */
export function runSource(cwd: string = process.cwd()): RunSource {
  const git = (args: string[]): string =>
    execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  let commit: string | null
  try {
    commit = git(['rev-parse', 'HEAD']).trim()
  } catch {
    return { commit: null, dirty: null }
  }
  try {
    // A benchmark rewrites its own evidence file, so evidence/ does not count.
    const changed = git(['status', '--porcelain', '--untracked-files=no', '--', '.', ':(exclude)evidence'])
    return { commit, dirty: changed.trim() !== '' }
  } catch {
    return { commit, dirty: null }
  }
}

/** One history line: when, on what code and machine, with which settings, and the figures. */
export function runLine(
  name: string,
  finishedAt: Date,
  source: RunSource,
  settings: Record<string, unknown>,
  figures: Record<string, unknown>,
): string {
  const line = {
    benchmark: name,
    finished_at: finishedAt.toISOString(),
    ...source,
    machine: machine(),
    settings,
    ...figures,
  }
  return `${JSON.stringify(line)}\n`
}

/** Appends `line` to `evidence/bench/<name>-runs.jsonl` under `root`; returns the file's path. */
export async function appendRun(name: string, line: string, root: string = process.cwd()): Promise<string> {
  if (!line.endsWith('\n') || line.indexOf('\n') !== line.length - 1) {
    throw new TypeError('a run history line is one line ending in a newline')
  }
  const path = resolve(root, 'evidence', 'bench', `${name}-runs.jsonl`)
  await mkdir(dirname(path), { recursive: true })
  await appendFile(path, line)
  return path
}
