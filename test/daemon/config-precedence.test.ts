import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { isLoopback, loadConfig } from '../../src/daemon/config.js'
import { InvalidConfigError } from '../../src/daemon/errors.js'
import { configFixture } from './config-fixture.js'

const { load } = configFixture('precedence')

async function refusal(sources: Parameters<typeof load>[0]): Promise<InvalidConfigError> {
  const err = await load(sources).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(InvalidConfigError)
  return err as InvalidConfigError
}

describe('config: where the data directory comes from', () => {
  it('takes --dir over QFS_DIR', async () => {
    const flagDir = join('/tmp', 'qfs-precedence-flag')
    const c = await loadConfig({ dir: flagDir, env: { QFS_DIR: '/tmp/qfs-precedence-env' } })
    expect(c.dir).toBe(flagDir)
  })

  it('refuses an empty --dir or QFS_DIR rather than taking the working directory', async () => {
    for (const [sources, source] of [
      [{ dir: '', env: {} }, 'flag'],
      [{ env: { QFS_DIR: '' } }, 'env'],
    ] as const) {
      const err = await loadConfig(sources).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(InvalidConfigError)
      expect(err).toMatchObject({ code: 'INVALID_CONFIG', field: 'dir', source })
    }
  })
})

describe('config: the staging age against the idle timeout, at the bound', () => {
  it('takes a staging age equal to the idle timeout and refuses one a millisecond below', async () => {
    const equal = await load({
      flags: { 'limits.idle_timeout_ms': '40000', 'limits.staging_max_age_ms': '40000' },
    })
    expect(equal.limits).toMatchObject({ idleTimeoutMs: 40_000, stagingMaxAgeMs: 40_000 })
    const below = await refusal({
      flags: { 'limits.idle_timeout_ms': '40000', 'limits.staging_max_age_ms': '39999' },
    })
    expect(below).toMatchObject({ field: 'limits.staging_max_age_ms', source: 'flag' })
  })
})

describe('config: an API off the loopback needs a token', () => {
  it.each(['127.example.com', '127.0.0.1.nip.io', '127', '127.evil'])(
    'does not take the host name %s for the loopback',
    async (host) => {
      expect(isLoopback(host)).toBe(false)
      const err = await refusal({ flags: { 'api.host': host } })
      expect(err).toMatchObject({ field: 'api.token', source: 'flag' })
    },
  )
})
