import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as sdk from '../../src/sdk/index.js'
import { bytesOf } from '../engine/suite.js'
import { type Libp2pNetwork, libp2pHarness } from '../net/harness.js'
import { nodeAddress } from './harness.js'

/** The README's SDK example: its import line, the node address it dials, and the code after them. */
async function readmeSnippet(): Promise<{ imports: string[]; node: string; body: string }> {
  const readme = await readFile(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8')
  const block = /```ts\n(import \{([^}]*)\} from 'qfs-node\/dist\/sdk\/index\.js'\n)([\s\S]*?)```/.exec(
    readme,
  )
  if (block === null) throw new Error('README has no ```ts block importing qfs-node/dist/sdk/index.js')
  const node = /QfsClient\.create\(\{ node: '([^']+)' \}\)/.exec(block[3]!)
  if (node === null) throw new Error('the README snippet does not create a QfsClient from a node address')
  return { imports: block[2]!.split(',').map((name) => name.trim()), node: node[1]!, body: block[3]! }
}

describe('the README SDK snippet', () => {
  let net: Libp2pNetwork

  beforeAll(async () => {
    net = await libp2pHarness(4)
  })
  afterAll(async () => {
    await net?.close()
  })

  it('imports only what the SDK entry point exports', async () => {
    const { imports } = await readmeSnippet()
    expect(imports.length).toBeGreaterThan(0)
    for (const name of imports) expect(Object.keys(sdk), name).toContain(name)
  })

  it('runs as written against a network, storing and reading back the bytes', async () => {
    const { imports, node, body } = await readmeSnippet()
    const printed: unknown[][] = []
    const bytes = bytesOf('readme-snippet', 300_000)
    // The snippet's own code, with its placeholder address pointing at a node of the network.
    const code = `${body.replace(`'${node}'`, 'NODE')}\nreturn { put, got }`
    const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (
      ...args: string[]
    ) => (...values: unknown[]) => Promise<{ put: { ok: boolean }; got: { ok: boolean } }>
    const run = new AsyncFunction(...imports, 'NODE', 'bytes', 'console', code)
    const exported = sdk as unknown as Record<string, unknown>
    const { put, got } = await run(
      ...imports.map((name) => exported[name]),
      nodeAddress(net, net.nodeIds[0]!),
      bytes,
      { log: (...args: unknown[]) => void printed.push(args) },
    )
    expect(put, JSON.stringify(put)).toMatchObject({ ok: true, version: 1 })
    expect(got).toMatchObject({ ok: true, version: 1 })
    expect(printed).toEqual([[1, bytes.length]])
  })
})
