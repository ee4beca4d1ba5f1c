import { describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import { StreamEndedError } from '../../src/net/errors.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

// Found by a soak of a 5-node devnet: writes whose clients gave up were counted as failed with
// QUORUM_NOT_REACHED (metrics and the write's audit entry) on a network with every node up.
describe('a write whose caller goes while the peers are asked', () => {
  for (const size of [3000, 600_000])
    for (const at of ['getRecord', 'commitVersion'] as const) {
      it(`answers the caller's reason, not a quorum verdict (${size} bytes, gone at ${at})`, async () => {
        const h = await inProcessHarness(5)
        try {
          const gone = new AbortController()
          const transport = h.net.transport as unknown as Record<
            string,
            (...args: unknown[]) => Promise<unknown>
          >
          const call = transport[at]!.bind(h.net.transport)
          // The caller leaves at the first preflight lookup or decide offer; each such exchange then
          // fails as one cut by it would.
          transport[at] = async (...args: unknown[]) => {
            gone.abort(new StreamEndedError('the peer reset the stream'))
            await call(...args)
            throw new NodeUnavailableError('the exchange was aborted')
          }
          const oid = objectId('write-abandoned', `${size}-${at}`)
          const put = await h
            .engine(h.nodeIds[1]!)
            .putContent(oid, 1, bytesOf('wa', size), meta(1), { signal: gone.signal })
          expect(put).toMatchObject({ ok: false, code: 'STREAM_ENDED' })
        } finally {
          await h.close()
        }
      })
    }
})
