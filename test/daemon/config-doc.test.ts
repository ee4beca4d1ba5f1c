/**
 * docs/operations.md's configuration table and the code agree in both directions: every setting's
 * file key, variable, flag and default, and the ranges a row states.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type ConfigFlags, loadConfig } from '../../src/daemon/config.js'
import { FIELDS } from '../../src/daemon/config-fields.js'

const ops = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8')
const section = ops.slice(ops.indexOf('## Configuration'), ops.indexOf('## Snapshots'))
/** The table's rows by file key: [key, variable, flag, default, notes]. */
const rows = new Map(
  section
    .split('\n')
    .filter((l) => /^\| `[a-z]/.test(l))
    // No cell of this table holds a `|`.
    .map((l) =>
      l
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim()),
    )
    .map((cells) => [cells[0]!.replaceAll('`', ''), cells] as const),
)

const DIR = '/nonexistent/qfs-config-doc'
const load = (flags: ConfigFlags = {}) => loadConfig({ dir: DIR, env: {}, cwd: '/', flags })

/** The config property of a file key: `limits.max_content_bytes` is `limits.maxContentBytes`. */
function valueAt(config: object, key: string): unknown {
  return key
    .split('.')
    .map((part) => part.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()))
    .reduce<unknown>((v, part) => (v as Record<string, unknown>)[part], config)
}

/** A default cell as a value: JSON in backticks, a plain number (a note after it), `N GiB`, `none`. */
function documentedDefault(cell: string): unknown {
  if (cell === 'none') return null
  if (cell === '`D/snapshot.json`') return join(DIR, 'snapshot.json')
  const gib = /^(\d+) GiB$/.exec(cell)
  if (gib !== null) return Number(gib[1]) * 1024 ** 3
  const code = /^`([^`]*)`/.exec(cell)
  if (code !== null) return jsonOrText(code[1]!)
  const plain = /^(\d+|true|false)\b/.exec(cell)
  if (plain !== null) return JSON.parse(plain[1]!)
  throw new Error(`cannot read the default ${JSON.stringify(cell)}`)
}

/** `["/ip4/…"]`, `0` or `false` as JSON; `127.0.0.1` or `info` as text. */
function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

describe('docs/operations.md configuration table', () => {
  it('lists every setting the code takes, and only those', () => {
    expect([...rows.keys()].sort()).toEqual(Object.keys(FIELDS).sort())
  })

  it.each(Object.entries(FIELDS))('gives %s its variable and flag', (key, spec) => {
    const [, variable, flag] = rows.get(key)!
    expect(variable).toBe(`\`${spec.env}\``)
    expect(flag!.split(' ')[0]).toBe(`\`${spec.flag}\``)
  })

  it('gives every setting the default the code applies', async () => {
    const config = await load()
    const drift = [...rows]
      .map(([key, cells]) => ({ key, documented: documentedDefault(cells[3]!), code: valueAt(config, key) }))
      // api.token has no value at all by default (undefined), as `none` says.
      .filter(({ documented, code }) => JSON.stringify(documented) !== JSON.stringify(code ?? null))
    expect(drift).toEqual([])
  })

  it('refuses a value just outside each range a row states, and takes its ends', async () => {
    const ranged = [...rows].flatMap(([key, cells]) => {
      const m = /\(?(\d+)\.\.(\d+)\b/.exec(cells[4] ?? '')
      // api.token's 16..1024 is a length, checked by the token tests.
      return m === null || key === 'api.token' ? [] : [{ key, min: Number(m[1]), max: Number(m[2]) }]
    })
    expect(ranged.map((r) => r.key)).toContain('limits.max_concurrent_writes')
    for (const { key, min, max } of ranged) {
      const field = key as keyof typeof FIELDS
      for (const ok of [min, max]) expect(valueAt(await load({ [field]: String(ok) }), key)).toBe(ok)
      for (const bad of [min - 1, max + 1]) {
        if (bad < 0) continue
        await expect(load({ [field]: String(bad) })).rejects.toMatchObject({
          code: 'INVALID_CONFIG',
          field: key,
        })
      }
    }
  })
})
