import { describe, expect, it } from 'vitest'
import { DEFAULT_SUSPECT_GRACE_MS } from '../../src/engine/context.js'
import { configFixture } from './config-fixture.js'
import { type ConfigRefusal, itRefuses } from './config-refusals.js'

const { fileWith, load } = configFixture('peers')

describe('peer health settings in the configuration', () => {
  it('waits half a second for a suspect peer by default; 0 stops at once; file, env and flag in order', async () => {
    expect((await load({})).limits.suspectGraceMs).toBe(DEFAULT_SUSPECT_GRACE_MS)
    const file = await fileWith({ suspect_grace_ms: 0 })
    expect((await load({ configFile: file })).limits.suspectGraceMs).toBe(0)
    expect(
      (await load({ configFile: file, env: { QFS_SUSPECT_GRACE_MS: '250' } })).limits.suspectGraceMs,
    ).toBe(250)
    const flagged = await load({
      configFile: file,
      env: { QFS_SUSPECT_GRACE_MS: '250' },
      flags: { 'limits.suspect_grace_ms': '2000' },
    })
    expect(flagged.limits.suspectGraceMs).toBe(2000)
  })

  it('probes peers every 5 s by default; 0 turns probing off', async () => {
    expect((await load({})).limits.probeIntervalMs).toBe(5_000)
    expect((await load({ env: { QFS_PROBE_INTERVAL_MS: '0' } })).limits.probeIntervalMs).toBe(0)
    expect((await load({ flags: { 'limits.probe_interval_ms': '250' } })).limits.probeIntervalMs).toBe(250)
  })

  const bad: ConfigRefusal[] = [
    [
      'a negative probe interval',
      async () => ({ flags: { 'limits.probe_interval_ms': '-5' } }),
      'limits.probe_interval_ms',
      'flag',
    ],
    [
      'a probe interval as text in a file',
      async () => ({ configFile: await fileWith({ probe_interval_ms: '5000' }) }),
      'limits.probe_interval_ms',
      'file',
    ],
    [
      'a negative suspect grace',
      async () => ({ env: { QFS_SUSPECT_GRACE_MS: '-1' } }),
      'limits.suspect_grace_ms',
      'env',
    ],
    [
      'a fractional suspect grace',
      async () => ({ configFile: await fileWith({ suspect_grace_ms: 0.5 }) }),
      'limits.suspect_grace_ms',
      'file',
    ],
    [
      'a suspect grace past 2^31-1 ms',
      async () => ({ flags: { 'limits.suspect_grace_ms': String(2 ** 31) } }),
      'limits.suspect_grace_ms',
      'flag',
    ],
  ]

  itRefuses(bad, load)
})
