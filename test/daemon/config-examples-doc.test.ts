/**
 * The example error lines of docs/operations.md "Configuration" are what `qfs-node start` prints for
 * those inputs: each line of the doc's block is reproduced, word for word, from the loader's refusal
 * as the command line reports it.
 */

import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { reportError } from '../../src/cli/io.js'
import { type ConfigSources, loadConfig } from '../../src/daemon/config.js'

const ops = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8')
const block = /Everything is validated before anything starts[\s\S]*?```\n([\s\S]*?)```/.exec(ops)![1]!
const examples = block.trim().split('\n')
/** The path the doc's examples name for a config file. */
const DOC_FILE = '/etc/qfs/node.json'

let root = ''
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-config-examples-'))
})
afterAll(async () => {
  if (root !== '') await rm(root, { recursive: true, force: true })
})

/** What the command line prints for the loader's refusal of `sources`, the temporary file named as the doc's. */
async function printed(sources: Omit<ConfigSources, 'dir'>, file?: string): Promise<string> {
  let stderr = ''
  const err = await loadConfig({ dir: join(root, 'node'), env: {}, ...sources }).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeDefined()
  const status = reportError({ stdout: () => {}, stderr: (t) => (stderr += t), isTty: false }, err)
  expect(status).toBe(2)
  return file === undefined ? stderr.trimEnd() : stderr.trimEnd().replaceAll(file, DOC_FILE)
}

describe('docs/operations.md configuration error examples', () => {
  it('has the four examples this test reproduces', () => {
    expect(examples).toHaveLength(4)
  })

  it('a flag out of range', async () => {
    expect(await printed({ flags: { 'api.port': '65536' } })).toBe(examples[0])
  })

  it('an unknown setting in the file', async () => {
    const file = join(root, 'node.json')
    await writeFile(file, JSON.stringify({ limits: { max_peers: 8 } }))
    expect(await printed({ configFile: file }, file)).toBe(examples[1])
  })

  it('a config file named by QFS_CONFIG that cannot be read', async () => {
    const file = join(root, 'missing', 'node.json')
    expect(await printed({ env: { QFS_CONFIG: file } }, file)).toBe(examples[2])
  })

  it('an API off the loopback without a token', async () => {
    expect(await printed({ env: { QFS_API_HOST: '0.0.0.0' } })).toBe(examples[3])
  })
})
