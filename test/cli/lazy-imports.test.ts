import { readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import {
  MAX_DEVNET_NODES as CLI_MAX_DEVNET_NODES,
  MIN_DEVNET_NODES as CLI_MIN_DEVNET_NODES,
  LOG_LEVEL_NAMES,
} from '../../src/cli/help-values.js'
import type { CliIo } from '../../src/cli/io.js'
import { buildProgram } from '../../src/cli/main.js'
import { LOG_LEVELS } from '../../src/daemon/config.js'
import { MAX_DEVNET_NODES, MIN_DEVNET_NODES } from '../../src/daemon/devnet.js'

/**
 * Every command used to cost a second, `--version` included (walkthrough L9): the CLI's entry
 * module imported every command, and with them libp2p, LevelDB, fastify and ML-DSA. Registering the
 * commands now loads only commander and Node's own modules; each command loads the rest when it
 * runs. Checked on the module graph itself (as Node would load it), not on a clock.
 */

const ROOT = join(import.meta.dirname, '..', '..')

/** The specifiers a module loads when it is evaluated: its static imports and re-exports as emitted (type-only ones are erased). */
function staticImports(file: string): string[] {
  const source = readFileSync(file, 'utf8')
  const js = ts.transpileModule(source, {
    fileName: file,
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
    },
  }).outputText
  const out: string[] = []
  const parsed = ts.createSourceFile(file, js, ts.ScriptTarget.ES2022)
  for (const statement of parsed.statements) {
    if (
      (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) &&
      statement.moduleSpecifier !== undefined &&
      ts.isStringLiteral(statement.moduleSpecifier)
    ) {
      out.push(statement.moduleSpecifier.text)
    }
  }
  return out
}

/** Every package the module graph of `entry` loads at once, with the chain of modules that leads to it. */
function packagesLoadedBy(entry: string): Map<string, string[]> {
  const packages = new Map<string, string[]>()
  const seen = new Set<string>()
  const queue: Array<{ file: string; chain: string[] }> = [{ file: entry, chain: [] }]
  while (queue.length > 0) {
    const { file, chain } = queue.shift()!
    if (seen.has(file)) continue
    seen.add(file)
    const here = [...chain, relative(ROOT, file)]
    for (const specifier of staticImports(file)) {
      if (specifier.startsWith('.')) {
        queue.push({ file: join(dirname(file), specifier.replace(/\.js$/, '.ts')), chain: here })
      } else if (!packages.has(specifier)) {
        packages.set(specifier, here)
      }
    }
  }
  return packages
}

const silent: CliIo = { stdout: () => {}, stderr: () => {}, isTty: false }

describe('the CLI loads a command only when it runs', () => {
  it('registers every command with commander and node: modules alone', () => {
    const loaded = packagesLoadedBy(join(ROOT, 'src', 'cli', 'main.ts'))
    const heavy = [...loaded].filter(([name]) => name !== 'commander' && !name.startsWith('node:'))
    expect(heavy.map(([name, chain]) => `${name} <- ${chain.join(' <- ')}`)).toEqual([])
    expect(loaded.has('commander')).toBe(true)
  })

  it('names in help texts the limits the daemon enforces', () => {
    expect(LOG_LEVEL_NAMES).toEqual(LOG_LEVELS)
    expect(CLI_MIN_DEVNET_NODES).toBe(MIN_DEVNET_NODES)
    expect(CLI_MAX_DEVNET_NODES).toBe(MAX_DEVNET_NODES)
  })

  it('lists aegis in the top-level help as its own module does', async () => {
    const listed = (await buildProgram(silent, [])).helpInformation()
    const real = (await buildProgram(silent, ['aegis'])).helpInformation()
    expect(listed).toBe(real)
    expect(listed).toMatch(/\n {2}aegis +AEGIS authority/)
  })
})
