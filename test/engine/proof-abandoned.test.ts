import { describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import { StreamEndedError } from '../../src/net/errors.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

// Found by aborting proofs on a 5-node devnet after a soak: a proof whose client left while the
// holders were asked was counted (and logged) as get_proof NODE_UNAVAILABLE with every holder up.
describe('a proof whose caller goes while the holders are asked', () => {
  it("answers the caller's reason, not the holders' cut exchanges", async () => {
    const h = await inProcessHarness(5)
    try {
      const oid = objectId('proof-abandoned', 'o')
      const put = await h.engine(h.nodeIds[0]!).putContent(oid, 1, bytesOf('pa', 3000), meta(1))
      if (!put.ok) throw new Error(put.code)
      const gone = new AbortController()
      // The caller leaves at the first ask of a holder, whose exchange over the network then fails
      // as the transport reports an aborted stream (not with the caller's reason).
      h.net.transport.proveShard = async () => {
        gone.abort(new StreamEndedError('the peer reset the stream'))
        throw new NodeUnavailableError('the exchange was aborted')
      }
      const proof = await h
        .engine(h.nodeIds[1]!)
        .getStorageProof(oid, 1, put.shard_ids[0]!, { leafIndex: 0, signal: gone.signal })
      expect(proof).toMatchObject({ ok: false, code: 'STREAM_ENDED' })
    } finally {
      await h.close()
    }
  })
})
