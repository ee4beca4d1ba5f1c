import { describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import { StreamEndedError } from '../../src/net/errors.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

// Found by a soak of a 5-node devnet: clients that abandoned reads while the homes were being asked
// showed up as reads failed with QUORUM_NOT_REACHED (metrics and the READ audit entry) on a network
// with every node up.
describe('a read whose caller goes while the homes are asked', () => {
  for (const version of [undefined, 1] as const) {
    it(`answers the caller's reason, not a quorum verdict on the homes (${version ?? 'latest'})`, async () => {
      const h = await inProcessHarness(5)
      try {
        const oid = objectId('read-abandoned', String(version))
        expect((await h.engine(h.nodeIds[0]!).putContent(oid, 1, bytesOf('ra', 3000), meta(1))).ok).toBe(true)
        const gone = new AbortController()
        const lookup = h.net.transport.getRecord.bind(h.net.transport)
        // The caller leaves at the first lookup; each lookup then fails as an exchange cut by it would.
        h.net.transport.getRecord = async (...args) => {
          gone.abort(new StreamEndedError('the peer reset the stream'))
          await lookup(...args)
          throw new NodeUnavailableError('the exchange was aborted')
        }
        const read = await h.engine(h.nodeIds[1]!).getContent(oid, version, { signal: gone.signal })
        expect(read).toMatchObject({ ok: false, code: 'STREAM_ENDED' })
      } finally {
        await h.close()
      }
    })
  }
})
