import { expect, it } from 'vitest'
import type { ConfigSources, NodeConfig } from '../../src/daemon/config.js'
import { InvalidConfigError } from '../../src/daemon/errors.js'

/** A bad setting: what it is, where it comes from, and the field and source the error must name. */
export type ConfigRefusal = [string, () => Promise<Partial<ConfigSources>>, string, string]

/** One test per case: the load fails with INVALID_CONFIG naming the field and where it came from. */
export function itRefuses(
  cases: ConfigRefusal[],
  load: (sources: Partial<ConfigSources>) => Promise<NodeConfig>,
): void {
  it.each(cases)('refuses %s with INVALID_CONFIG naming the key', async (_what, sources, field, source) => {
    const err = await load(await sources()).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(InvalidConfigError)
    expect(err).toMatchObject({ code: 'INVALID_CONFIG', field, source })
  })
}
