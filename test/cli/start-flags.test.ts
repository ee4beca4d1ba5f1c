import { describe, expect, it } from 'vitest'
import { configFlags } from '../../src/daemon/config.js'
import { runCli } from './run.js'

describe('qfs-node start flags', () => {
  it('takes the flag of every configuration setting (docs/operations.md lists them)', async () => {
    const help = await runCli(['start', '--help'])
    const fields = configFlags()
    expect(fields.length).toBeGreaterThan(20)
    const missing = fields.filter(({ flag }) => !new RegExp(`(^|\\s)${flag}(\\s|,|$)`, 'm').test(help.stdout))
    expect(missing).toEqual([])
  })
})
