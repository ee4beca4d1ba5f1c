import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { type ConfigFlags, loadConfig } from '../../src/daemon/config.js'
import { InvalidConfigError, InvalidDataDirError } from '../../src/daemon/errors.js'

let root = ''
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-config-names-'))
})
afterAll(async () => {
  if (root !== '') await rm(root, { recursive: true, force: true })
})

/** Names every object has through its prototype: none of them is a setting. */
const INHERITED = ['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf']

async function loadFileText(name: string, text: string) {
  const path = join(root, name)
  await writeFile(path, text)
  return loadConfig({ dir: join(root, 'node'), configFile: path, env: {}, cwd: root })
}

describe('config setting names are own names only', () => {
  it.each(INHERITED)('refuses the file key %s at the top level with INVALID_CONFIG', async (key) => {
    // The JSON text itself: JSON.parse makes even "__proto__" an own key of the object.
    const err = await loadFileText(`top-${key}.json`, `{${JSON.stringify(key)}: {"x": 1}}`).catch(
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(InvalidConfigError)
    expect(err).toMatchObject({ code: 'INVALID_CONFIG', field: key, source: 'file' })
    expect((err as Error).message).toContain('unknown setting')
  })

  it.each(INHERITED)('refuses the file key %s with a number value too', async (key) => {
    const err = await loadFileText(`num-${key}.json`, `{${JSON.stringify(key)}: 1}`).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'INVALID_CONFIG', field: key, source: 'file' })
  })

  it.each(INHERITED)('refuses the key %s inside a section', async (key) => {
    const err = await loadFileText(`api-${key}.json`, `{"api": {${JSON.stringify(key)}: 1}}`).catch(
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: 'INVALID_CONFIG', field: `api.${key}`, source: 'file' })
  })

  it.each(INHERITED)('refuses the flag field %s', async (key) => {
    const flags = JSON.parse(`{${JSON.stringify(key)}: "1"}`) as ConfigFlags
    const err = await loadConfig({ dir: join(root, 'node'), env: {}, cwd: root, flags }).catch(
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: 'INVALID_CONFIG', field: key, source: 'flag' })
  })

  it('still takes the real settings (the refusals above are the names, not the file)', async () => {
    const c = await loadFileText('real.json', '{"api": {"port": 4100}, "log_level": "warn"}')
    expect(c.api.port).toBe(4100)
    expect(c.logLevel).toBe('warn')
  })
})

describe('a data directory that is a file', () => {
  it('is INVALID_DATA_DIR saying so, not an unreadable config file', async () => {
    const file = join(root, 'plain-file')
    await writeFile(file, 'not a directory\n')
    for (const dir of [file, join(file, 'below')]) {
      const err = await loadConfig({ dir, env: {}, cwd: root }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(InvalidDataDirError)
      expect((err as Error).message).toBe(`the data directory ${dir} is not a directory`)
    }
  })

  it('makes start exit 3 with one line naming the directory', async () => {
    const file = join(root, 'start-file')
    await writeFile(file, '{}\n')
    let stderr = ''
    const status = await main(['start', '--dir', file], {
      stdout: () => {},
      stderr: (t) => {
        stderr += t
      },
      isTty: false,
    })
    expect(status).toBe(3)
    expect(stderr).toBe(`error [INVALID_DATA_DIR]: the data directory ${file} is not a directory\n`)
  })

  it('lets a directory that does not exist yet through', async () => {
    const c = await loadConfig({ dir: join(root, 'not-yet'), env: {}, cwd: root })
    expect(c.dir).toBe(join(root, 'not-yet'))
  })
})
