import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { configFlags } from '../../src/daemon/config.js'
import { FIELDS } from '../../src/daemon/config-fields.js'
import { runCli } from './run.js'

describe('qfs-node start flags', () => {
  it('takes the flag of every configuration setting (docs/operations.md lists them)', async () => {
    const help = await runCli(['start', '--help'])
    const fields = configFlags()
    expect(fields.length).toBeGreaterThan(20)
    const missing = fields.filter(({ flag }) => !new RegExp(`(^|\\s)${flag}(\\s|,|$)`, 'm').test(help.stdout))
    expect(missing).toEqual([])
  })

  describe('hands each flag to its own setting', () => {
    let dir = ''
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'qfs-start-flags-'))
    })
    afterAll(async () => {
      if (dir !== '') await rm(dir, { recursive: true, force: true })
    })
    // A value each kind refuses: the refusal names the setting the flag reached.
    const BAD: Record<string, string> = {
      bytes: 'x',
      ms: 'x',
      count: 'x',
      port: 'x',
      host: '-x-',
      level: 'loud',
      listen: 'nope',
      multiaddrs: 'nope',
      bool: 'maybe',
    }
    const cases = configFlags().filter(({ field }) => BAD[FIELDS[field].kind] !== undefined)
    // allow_no_snapshot is a switch: it takes no value to refuse.
    const checked = cases.filter(({ field }) => field !== 'allow_no_snapshot')

    it('covers every setting but the paths, keys, token and the one switch', () => {
      expect(checked.length).toBe(configFlags().length - 4)
    })

    it.each(checked)('$flag reaches $field', async ({ field, flag }) => {
      const r = await runCli(['start', '--dir', dir, flag, BAD[FIELDS[field].kind]!])
      expect(r.stderr).toMatch(
        new RegExp(`^error \\[INVALID_CONFIG\\]: ${field.replace('.', '\\.')} \\(flag ${flag}\\): `),
      )
      expect(r.status).toBe(2)
    })
  })
})
