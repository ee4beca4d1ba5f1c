import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import type { MiniNetwork } from '../../src/node/mini-network.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

/**
 * A proof no replica can give (every one away) is PROOF_UNAVAILABLE, SE_ERR_PROOF_UNAVAILABLE on
 * the wire (docs/protocol.md section 5: "no replica produced a verifying proof"), not a shard that
 * is away (SHARD_UNAVAILABLE, SE_ERR_NO_ELIGIBLE_NODES), which is what a read answers.
 */
describe('a proof whose every replica is away', () => {
  let net: MiniNetwork
  beforeAll(async () => {
    net = (await inProcessHarness(5)).net
  })
  afterAll(async () => {
    await net?.close()
  })

  it('answers PROOF_UNAVAILABLE', async () => {
    const oid = objectId('proof-unavailable', 'all-away')
    const put = await net.engine('node-1').putContent(oid, 1, bytesOf('away', 3000), meta(1))
    expect(put.ok).toBe(true)
    if (!put.ok) return
    const prove = vi.spyOn(net.transport, 'proveShard').mockImplementation(async (node) => {
      throw new NodeUnavailableError(`${node} is unreachable`)
    })
    try {
      const r = await net.engine('node-2').getStorageProof(oid, 1, put.shard_ids[0]!)
      expect(r).toMatchObject({
        ok: false,
        code: 'PROOF_UNAVAILABLE',
        error_code: 'SE_ERR_PROOF_UNAVAILABLE',
      })
      expect(prove).toHaveBeenCalledTimes(3)
    } finally {
      prove.mockRestore()
    }
  })
})
