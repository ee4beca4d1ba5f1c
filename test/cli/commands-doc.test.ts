/**
 * docs/operations.md "Commands" and "Command-line errors" against the command line itself: every
 * command with exactly the flags its parser takes (required ones shown outside brackets), and the
 * exit status each code of the errors table is reported with.
 */
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { describe, expect, it } from 'vitest'
import { type CliIo, reportError } from '../../src/cli/io.js'
import { buildProgram } from '../../src/cli/main.js'
import { QfsError } from '../../src/core/errors.js'
import { FIELDS } from '../../src/daemon/config-fields.js'
import { runCli } from './run.js'

const ops = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8')

function section(from: string, to: string): string {
  const start = ops.indexOf(from)
  const end = ops.indexOf(to, start + from.length)
  if (start < 0 || end < 0) throw new Error(`docs/operations.md no longer has ${from} ... ${to}`)
  return ops.slice(start, end)
}

const silent: CliIo = { stdout: () => {}, stderr: () => {}, isTty: false }

/** Each leaf command of the parser by its path (`log verify`), `aegis` registered for real. */
async function commands(): Promise<Map<string, Command>> {
  const found = new Map<string, Command>()
  const walk = (c: Command, path: string[]) => {
    for (const sub of c.commands) {
      const name = [...path, sub.name()]
      if (sub.commands.length === 0) found.set(name.join(' '), sub)
      walk(sub, name)
    }
  }
  walk(await buildProgram(silent, ['aegis']), [])
  return found
}

interface Synopsis {
  path: string
  /** Bare upper-case words right after the path: the positional arguments. */
  args: string[]
  /** Every flag named, with whether it stands outside any [...] or (...). */
  flags: Map<string, boolean>
}

/** The synopsis lines of the Commands section's code block. */
function synopses(): Synopsis[] {
  const block = /```\n([\s\S]*?)```/.exec(section('## Commands', '## Command-line errors'))![1]!
  return block
    .trim()
    .split('\n')
    .map((line) => {
      const words = line.split(' ').slice(1)
      const path: string[] = []
      while (/^[a-z]+$/.test(words[0] ?? '')) path.push(words.shift()!)
      const args: string[] = []
      while (/^[A-Z_]+$/.test(words[0] ?? '')) args.push(words.shift()!)
      const flags = new Map<string, boolean>()
      let depth = 0
      for (const m of line.matchAll(/[[\]()]|(?<=\s|[[(])(--?[a-z][a-z-]*)/g)) {
        if (m[0] === '[' || m[0] === '(') depth++
        else if (m[0] === ']' || m[0] === ')') depth--
        else flags.set(m[1]!, depth === 0)
      }
      return { path: path.join(' '), args, flags }
    })
}

describe('docs/operations.md Commands', () => {
  it('has a synopsis for every command, and only for those', async () => {
    expect(
      synopses()
        .map((s) => s.path)
        .sort(),
    ).toEqual([...(await commands()).keys()].sort())
  })

  it("names exactly each command's flags, the required ones outside brackets", async () => {
    const parsed = await commands()
    const configFlags = Object.values(FIELDS).map((f) => f.flag)
    for (const s of synopses()) {
      const command = parsed.get(s.path)!
      // A short flag (`get -o`) stands for its long one.
      const long = (flag: string) => command.options.find((o) => o.short === flag)?.long ?? flag
      const documented = [...[...s.flags.keys()].map(long), ...(s.path === 'start' ? configFlags : [])]
      const taken = command.options.map((o) => o.long!)
      expect({ command: s.path, flags: documented.sort() }).toEqual({ command: s.path, flags: taken.sort() })
      const required = command.options.filter((o) => o.mandatory).map((o) => o.long!)
      const shownRequired = [...s.flags].filter(([, outside]) => outside).map(([flag]) => long(flag))
      expect({ command: s.path, required: shownRequired.sort() }).toEqual({
        command: s.path,
        required: required.sort(),
      })
      expect({ command: s.path, args: s.args.length }).toEqual({
        command: s.path,
        args: command.registeredArguments.length,
      })
    }
  })
})

describe('README.md: "Every command has --help"', () => {
  it("prints each command's usage and exits 0", async () => {
    for (const path of (await commands()).keys()) {
      const r = await runCli([...path.split(' '), '--help'])
      expect({ path, status: r.status, usage: r.stdout.startsWith(`Usage: qfs-node ${path}`) }).toEqual({
        path,
        status: 0,
        usage: true,
      })
    }
  })
})

describe('command lines in the docs', () => {
  const DOCS = ['README.md', 'docs/operations.md', 'docs/audit-log.md', 'docs/architecture.md', 'docs/sdk.md']

  it('use only commands that exist, each with flags it takes', async () => {
    const parsed = await commands()
    const paths = [...parsed.keys()].sort((a, b) => b.length - a.length)
    const configFlags = Object.values(FIELDS).map((f) => f.flag)
    const wrong: string[] = []
    let checked = 0
    for (const name of DOCS) {
      // Shell continuations joined, so a command's flags on the next line count.
      const text = readFileSync(new URL(`../../${name}`, import.meta.url), 'utf8').replace(/\\\n\s*/g, ' ')
      // A command in a code block (`qfs-node ...` to the end of the line or a comment) or in back-quotes.
      const uses = [
        ...text.matchAll(/qfs-node ([a-z][^`\n#]*)/g),
        ...text.matchAll(/`((?:log|aegis|init|start|status|replay|scrub|put|get|proof|ls|devnet) [^`]*)`/g),
      ]
      for (const [, use] of uses) {
        const path = paths.find((p) => use!.startsWith(`${p} `) || use === p)
        if (path === undefined) continue
        const command = parsed.get(path)!
        const taken = new Set([
          ...command.options.flatMap((o) => [o.long, o.short]),
          ...(path === 'start' ? configFlags : []),
          '--help',
        ])
        for (const m of use!.slice(path.length).matchAll(/(?:^|[\s[(])(--?[a-z][a-z-]*)/g)) {
          checked++
          if (!taken.has(m[1]!)) wrong.push(`${name}: ${path} ${m[1]}`)
        }
      }
    }
    expect(checked).toBeGreaterThan(60)
    expect(wrong).toEqual([])
  })
})

describe('docs/operations.md Command-line errors table', () => {
  /** [code, exit] for every code of the table (a row may name two). */
  const table = section('| code | exit | meaning |', '\nThe client commands:')
    .split('\n')
    .filter((l) => /^\| `[A-Z]/.test(l))
    .flatMap((l) => {
      const [codes, exit] = l.split(' | ')
      return [...codes!.matchAll(/`([A-Z_]+)`/g)].map((m) => [m[1]!, Number(exit)] as const)
    })

  it('reports each code with the exit status its row gives', () => {
    expect(table.length).toBeGreaterThan(20)
    for (const [code, exit] of table) {
      const status = reportError(silent, new QfsError(code, 'what happened'))
      expect({ code, status }).toEqual({ code, status: exit })
    }
  })

  it('lists every code the command line itself takes for bad input (exit 2)', () => {
    // The codes reportError exits 2 for: the table must name each, with exit 2.
    const usage = ['INVALID_ARGUMENT', 'INVALID_INPUT', 'INVALID_CONFIG', 'INVALID_METADATA']
    for (const code of usage) expect(table).toContainEqual([code, 2])
  })
})
