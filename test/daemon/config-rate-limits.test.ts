import { describe, expect, it } from 'vitest'
import type { ConfigFlags } from '../../src/daemon/config.js'
import { configFixture } from './config-fixture.js'
import { type ConfigRefusal, itRefuses } from './config-refusals.js'

const { fileWith, load } = configFixture('rates')

/** The public reads' and writes' slot cap and minimum rate: the same three settings each. */
const KINDS = [
  { kind: 'read', cap: 'maxConcurrentReads', grace: 'readMinDeadlineMs', rate: 'readMinBytesPerSecond' },
  { kind: 'write', cap: 'maxConcurrentWrites', grace: 'writeMinDeadlineMs', rate: 'writeMinBytesPerSecond' },
] as const

describe.each(KINDS)('public $kind limits in the configuration', ({ kind, cap, grace, rate }) => {
  const KIND = kind.toUpperCase()
  const key = {
    cap: `limits.max_concurrent_${kind}s`,
    grace: `limits.${kind}_min_deadline_ms`,
    rate: `limits.${kind}_min_bytes_per_second`,
  } as const
  const fileKeys = (c: number, g: number, r: number) => ({
    [`max_concurrent_${kind}s`]: c,
    [`${kind}_min_deadline_ms`]: g,
    [`${kind}_min_bytes_per_second`]: r,
  })

  it('defaults to 32 at once, a 60 s grace and 64 KiB/s', async () => {
    expect((await load({})).limits).toMatchObject({ [cap]: 32, [grace]: 60_000, [rate]: 65_536 })
  })

  it('reads each key from the file, then env, then flags, the later winning', async () => {
    const file = await fileWith(fileKeys(4, 5000, 1024))
    expect((await load({ configFile: file })).limits).toMatchObject({ [cap]: 4, [grace]: 5000, [rate]: 1024 })
    const env = { [`QFS_MAX_CONCURRENT_${KIND}S`]: '5', [`QFS_${KIND}_MIN_DEADLINE_MS`]: '6000' }
    expect((await load({ configFile: file, env })).limits).toMatchObject({
      [cap]: 5,
      [grace]: 6000,
      [rate]: 1024,
    })
    const flagged = await load({
      configFile: file,
      env: { [`QFS_MAX_CONCURRENT_${KIND}S`]: '5', [`QFS_${KIND}_MIN_BYTES_PER_SECOND`]: '2048' },
      flags: { [key.cap]: '1', [key.rate]: '4096' } as ConfigFlags,
    })
    expect(flagged.limits).toMatchObject({ [cap]: 1, [grace]: 5000, [rate]: 4096 })
  })

  const bad: ConfigRefusal[] = [
    [
      `zero concurrent ${kind}s`,
      async () => ({ configFile: await fileWith({ [`max_concurrent_${kind}s`]: 0 }) }),
      key.cap,
      'file',
    ],
    [
      'a fractional cap',
      async () => ({ configFile: await fileWith({ [`max_concurrent_${kind}s`]: 1.5 }) }),
      key.cap,
      'file',
    ],
    [
      'a cap as text in a file',
      async () => ({ configFile: await fileWith({ [`max_concurrent_${kind}s`]: '8' }) }),
      key.cap,
      'file',
    ],
    [
      'a cap above 1_000_000',
      async () => ({ env: { [`QFS_MAX_CONCURRENT_${KIND}S`]: '1000001' } }),
      key.cap,
      'env',
    ],
    [
      'a grace past 2^31-1 ms',
      async () => ({ configFile: await fileWith({ [`${kind}_min_deadline_ms`]: 2 ** 31 }) }),
      key.grace,
      'file',
    ],
    ['a zero grace', async () => ({ flags: { [key.grace]: '0' } as ConfigFlags }), key.grace, 'flag'],
    [
      'a fractional grace',
      async () => ({ configFile: await fileWith({ [`${kind}_min_deadline_ms`]: 1.5 }) }),
      key.grace,
      'file',
    ],
    [
      'a grace as text in a file',
      async () => ({ configFile: await fileWith({ [`${kind}_min_deadline_ms`]: '60000' }) }),
      key.grace,
      'file',
    ],
    [
      'a negative rate',
      async () => ({ env: { [`QFS_${KIND}_MIN_BYTES_PER_SECOND`]: '-1' } }),
      key.rate,
      'env',
    ],
    [
      'a zero rate',
      async () => ({ configFile: await fileWith({ [`${kind}_min_bytes_per_second`]: 0 }) }),
      key.rate,
      'file',
    ],
    ['a non-numeric rate', async () => ({ flags: { [key.rate]: '64k' } as ConfigFlags }), key.rate, 'flag'],
  ]

  itRefuses(bad, load)
})

describe('read and write limits together', () => {
  it('keeps the read and write rules apart', async () => {
    const limits = (
      await load({ env: { QFS_READ_MIN_DEADLINE_MS: '1000', QFS_WRITE_MIN_BYTES_PER_SECOND: '2048' } })
    ).limits
    expect(limits).toMatchObject({
      readMinDeadlineMs: 1000,
      readMinBytesPerSecond: 65_536,
      writeMinDeadlineMs: 60_000,
      writeMinBytesPerSecond: 2048,
    })
  })
})
