import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import type { StorageEngineApi } from '../../src/engine/api.js'
import { confirmVersion } from '../../src/sdk/confirm.js'
import * as sdk from '../../src/sdk/index.js'
import { type EngineHarness, inProcessHarness } from '../engine/harness.js'

const META = (tick: number) => ({ author_node_id: 'confirm-latest', created_at_tick: tick })

/**
 * docs/sdk.md: confirmVersion confirms the version read, not that it is the latest: a node may
 * serve an older decided version as its latest read; `latestVersion` through the nodes asked tells.
 */
describe('confirmVersion confirms a version, not that it is the latest', () => {
  let net: EngineHarness
  const oid = objectId('confirm-latest', 'one')
  const asked = () => ['node-3', 'node-4', 'node-5'].map((id) => net.engine(id))

  beforeAll(async () => {
    net = await inProcessHarness(5)
    for (const v of [1, 2]) {
      const put = await net.engine('node-1').putContent(oid, v, new Uint8Array([v, v, v]), META(v))
      expect(put.ok).toBe(true)
    }
  })
  afterAll(() => net.close())

  it('an older decided version served as the latest is confirmed; latestVersion through the nodes asked says 2', async () => {
    const honest = net.engine('node-2')
    // A node that answers a read of the latest with version 1: every byte of it verifies.
    const stale: StorageEngineApi = {
      ...honest,
      getContent: (id, version, options) => honest.getContent(id, version ?? 1, options),
    }
    const read = await stale.getContent(oid)
    if (!read.ok) throw new Error(read.code)
    expect(read.version).toBe(1)
    expect(await confirmVersion(asked(), read)).toMatchObject({ ok: true, confirmed: true, agreeing: 3 })
    for (const engine of asked()) {
      const latest = await sdk.latestVersion(engine, oid)
      expect(latest).toMatchObject({ ok: true, latest: { version: 2 } })
    }
  })

  it('is exported by the SDK index', () => {
    expect(sdk.confirmVersion).toBe(confirmVersion)
  })
})
