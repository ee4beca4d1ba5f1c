import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as noiseModule from '@chainsafe/libp2p-noise'
import * as yamuxModule from '@chainsafe/libp2p-yamux'
import * as identifyModule from '@libp2p/identify'
import * as pingModule from '@libp2p/ping'
import * as tcpModule from '@libp2p/tcp'
import * as libp2pModule from 'libp2p'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as failuresModule from '../../src/sdk/failures.js'
import * as sdk from '../../src/sdk/index.js'
import { type Libp2pNetwork, libp2pHarness } from '../net/harness.js'
import { nodeAddress } from './harness.js'

const ROOT = join(import.meta.dirname, '..', '..')
const GUIDE = join(ROOT, 'docs', 'sdk.md')
/** The address the guide's first example dials; the test points it at a node of its network. */
const PLACEHOLDER = "'/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…'"

/** The modules the guide may import, as the test loads them (the SDK from its sources). */
const MODULES: Record<string, { source: string; module: Record<string, unknown> }> = {
  'qfs-node/dist/sdk/index.js': { source: '../../src/sdk/index.js', module: sdk },
  'qfs-node/dist/sdk/failures.js': { source: '../../src/sdk/failures.js', module: failuresModule },
  libp2p: { source: 'libp2p', module: libp2pModule },
  '@libp2p/tcp': { source: '@libp2p/tcp', module: tcpModule },
  '@chainsafe/libp2p-noise': { source: '@chainsafe/libp2p-noise', module: noiseModule },
  '@chainsafe/libp2p-yamux': { source: '@chainsafe/libp2p-yamux', module: yamuxModule },
  '@libp2p/identify': { source: '@libp2p/identify', module: identifyModule },
  '@libp2p/ping': { source: '@libp2p/ping', module: pingModule },
}

interface GuideProgram {
  /** Each imported name with the module it comes from. */
  imports: { name: string; from: string }[]
  /** The ```ts blocks in order, import lines left out: one program sharing one scope. */
  body: string
  /** The same, each annotated `console.log(...) // → text` turned into `__check(i, ...)`. */
  checked: string
  /** Annotated line i as written, and what it must print. */
  expected: { line: string; prints: string }[]
}

const IMPORT = /^import \{([^}]*)\} from '([^']+)'$/
const ANNOTATED = /^(.*?)console\.log\((.*)\) \/\/ → (.*)$/

async function guideProgram(): Promise<GuideProgram> {
  const text = await readFile(GUIDE, 'utf8')
  const blocks = [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
  if (blocks.length === 0) throw new Error('docs/sdk.md has no ```ts block')
  const imports: GuideProgram['imports'] = []
  const body: string[] = []
  const checked: string[] = []
  const expected: GuideProgram['expected'] = []
  for (const line of blocks.join('\n').split('\n')) {
    const imported = IMPORT.exec(line)
    if (imported !== null) {
      for (const name of imported[1]!.split(',')) imports.push({ name: name.trim(), from: imported[2]! })
      continue
    }
    body.push(line)
    const annotated = ANNOTATED.exec(line)
    checked.push(annotated === null ? line : `${annotated[1]}__check(${expected.length}, ${annotated[2]})`)
    if (annotated !== null) expected.push({ line: line.trim(), prints: annotated[3]! })
  }
  return { imports, body: body.join('\n'), checked: checked.join('\n'), expected }
}

/** The guide as a module beside this test, importing the SDK from its sources: what tsc sees. */
function typedSource(program: GuideProgram): string {
  const byModule = new Map<string, string[]>()
  for (const { name, from } of program.imports) byModule.set(from, [...(byModule.get(from) ?? []), name])
  const lines = [...byModule].map(
    ([from, names]) => `import { ${names.join(', ')} } from '${MODULES[from]?.source ?? from}'`,
  )
  return `${lines.join('\n')}\n${program.body}\nexport {}\n`
}

/** Type errors of the guide's code under the project's tsconfig (strict, noUncheckedIndexedAccess). */
function typeErrors(source: string): string[] {
  const file = join(ROOT, 'test', 'sdk', 'sdk-guide.example.ts')
  const config = ts.getParsedCommandLineOfConfigFile(
    join(ROOT, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'))
      },
    },
  )!
  const options = { ...config.options, noEmit: true }
  const host = ts.createCompilerHost(options)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (name, version, ...rest) =>
    name === file ? ts.createSourceFile(name, source, version, true) : getSourceFile(name, version, ...rest)
  const fileExists = host.fileExists.bind(host)
  host.fileExists = (name) => name === file || fileExists(name)
  const program = ts.createProgram({ rootNames: [file], options, host })
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => {
    const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined
    const at = where === undefined ? '' : `line ${where.line + 1}: `
    return at + ts.flattenDiagnosticMessageText(d.messageText, '\n')
  })
}

describe('docs/sdk.md', () => {
  let net: Libp2pNetwork

  beforeAll(async () => {
    net = await libp2pHarness(4)
  })
  afterAll(async () => {
    await net?.close()
  })

  it('imports only what the named modules export, and dials the placeholder address once', async () => {
    const program = await guideProgram()
    expect(program.imports.length).toBeGreaterThan(0)
    for (const { name, from } of program.imports) {
      expect(Object.keys(MODULES), `the guide imports from ${from}`).toContain(from)
      expect(Object.keys(MODULES[from]!.module), `${name} from ${from}`).toContain(name)
    }
    expect(program.body.split(PLACEHOLDER).length).toBe(2)
    expect(program.expected.length).toBeGreaterThan(10)
  })

  it('type-checks under the project tsconfig', async () => {
    expect(typeErrors(typedSource(await guideProgram()))).toEqual([])
  })

  it('runs as written against a network, printing what every `// →` comment says', async () => {
    const program = await guideProgram()
    const js = ts.transpileModule(program.checked.replace(PLACEHOLDER, 'NODE'), {
      compilerOptions: { target: ts.ScriptTarget.ES2023, module: ts.ModuleKind.ESNext },
    }).outputText
    const printed: string[][] = program.expected.map(() => [])
    const check = (line: number, ...values: unknown[]) => {
      for (const v of values) {
        // console.log prints a primitive as String() does; an object it would print otherwise.
        if (v !== null && (typeof v === 'object' || typeof v === 'function')) {
          throw new Error(`annotated line ${line} prints an object: print primitives only`)
        }
      }
      printed[line]!.push(values.map(String).join(' '))
    }
    const names = program.imports.map((i) => i.name)
    const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (
      ...args: string[]
    ) => (...values: unknown[]) => Promise<void>
    const run = new AsyncFunction(...names, 'NODE', '__check', js)
    await run(
      ...program.imports.map((i) => MODULES[i.from]!.module[i.name]),
      nodeAddress(net, net.nodeIds[0]!),
      check,
    )
    // Each annotated line ran exactly once and printed what its comment says.
    expect(program.expected.map(({ line }, i) => ({ line, printed: printed[i] }))).toEqual(
      program.expected.map(({ line, prints }) => ({ line, printed: [prints] })),
    )
  })
})
