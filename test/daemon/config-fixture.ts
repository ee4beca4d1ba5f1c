import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { type ConfigSources, loadConfig } from '../../src/daemon/config.js'

/**
 * A scratch directory for configuration tests of one file: `fileWith` writes a config file with the
 * given `limits`, `load` loads a configuration from the sources given (no env unless set).
 */
export function configFixture(label: string) {
  let root = ''
  let dir = ''
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), `qfs-config-${label}-`))
    dir = join(root, 'node')
  })
  afterAll(async () => {
    if (root !== '') await rm(root, { recursive: true, force: true })
  })
  return {
    async fileWith(limits: Record<string, unknown>): Promise<string> {
      const path = join(
        root,
        `limits-${Object.keys(limits).join('-')}-${Object.values(limits).join('-')}.json`,
      )
      await writeFile(path, JSON.stringify({ limits }))
      return path
    },
    load(sources: Partial<ConfigSources>) {
      return loadConfig({ dir, env: {}, cwd: root, ...sources })
    },
  }
}
