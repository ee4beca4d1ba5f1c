import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import type { MiniNetwork } from '../../src/node/mini-network.js'
import type { StagedShardRef } from '../../src/store/index.js'
import { inProcessHarness } from './harness.js'

/**
 * The staging sweep's roll-forward runs under the sweep's signal (engine.ts `rollForwardStaged`): a
 * sweep that was stopped decides nothing about a staged shard, since it never heard the homes.
 */
describe('rollForwardStaged under a signal', () => {
  let net: MiniNetwork
  beforeAll(async () => {
    net = (await inProcessHarness(3)).net
  })
  afterAll(async () => {
    await net?.close()
  })

  const oid = objectId('roll-forward-signal', 'nobody-decided')
  const ref: StagedShardRef = {
    stagingId: 'staging-1',
    objectId: oid,
    version: 1,
    shardId: shardId(oid, 1, 0),
    length: 10,
    merkleRoot: '0'.repeat(64),
    createdMs: 0,
  }

  it('calls a shard no home has a record for unneeded, when the homes were heard', async () => {
    expect(await net.engine('node-1').rollForwardStaged([ref])).toEqual({
      committed: [],
      unneeded: ['staging-1'],
      undecided: [],
    })
  })

  it('leaves it undecided when the signal was aborted before the homes were asked', async () => {
    const signal = AbortSignal.abort(new Error('sweeper stopped'))
    expect(await net.engine('node-1').rollForwardStaged([ref], { signal })).toEqual({
      committed: [],
      unneeded: [],
      undecided: ['staging-1'],
    })
  })
})
