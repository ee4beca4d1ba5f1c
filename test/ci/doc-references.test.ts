import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

/**
 * What README.md and the operator docs name in back-quotes exists: every repository path
 * (`src/engine/write.ts`, `test/engine/consistency-claims*.test.ts`), every source file named bare
 * (`roll-forward.ts`), and every upper-case constant or code (`MAX_LATEST_STEPS_BACK`,
 * `DB_UNREADABLE`) appears in the code. A rename that leaves a doc pointing at nothing fails here.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const DOCS = [
  'README.md',
  'docs/consistency.md',
  'docs/operations.md',
  'docs/audit-log.md',
  'docs/architecture.md',
]

const srcFiles = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
const srcText = srcFiles
  .filter((f) => f.endsWith('.ts'))
  .map((f) => readFileSync(join(ROOT, 'src', f), 'utf8'))
  .join('\n')

/** A path with at most one `*` in its last part exists (the glob matched by hand). */
function exists(path: string): boolean {
  if (!path.includes('*')) return existsSync(join(ROOT, path))
  const dir = path.slice(0, path.lastIndexOf('/'))
  const [before, after] = path.slice(dir.length + 1).split('*') as [string, string]
  return readdirSync(join(ROOT, dir)).some((f) => f.startsWith(before) && f.endsWith(after))
}

const quoted = (doc: string) =>
  [...readFileSync(join(ROOT, doc), 'utf8').matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!)

describe.each(DOCS)('%s', (doc) => {
  const spans = quoted(doc)

  it('names only repository paths that exist', () => {
    const paths = spans
      .map((s) => s.split(' ')[0]!.replace(/[(),:;]+$/, ''))
      .filter((s) => /^(src|test|docs|scripts|bin|evidence)\/[\w./*-]*$/.test(s))
    expect(paths.length).toBeGreaterThan(0)
    expect(paths.filter((p) => !exists(p))).toEqual([])
  })

  it('names only source files that exist', () => {
    const bare = spans.filter((s) => /^[a-z0-9-]+\.ts$/.test(s))
    expect(bare.filter((name) => !srcFiles.some((f) => f.endsWith(`/${name}`) || f === name))).toEqual([])
  })

  it('names only constants and codes the code has', () => {
    const names = spans.filter((s) => /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/.test(s))
    expect(names.filter((n) => !new RegExp(`\\b${n}\\b`).test(srcText))).toEqual([])
  })
})
