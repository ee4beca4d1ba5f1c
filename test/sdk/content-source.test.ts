import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import { StorageClient } from '../../src/net/client.js'
import { ContentSourceError } from '../../src/net/dial.js'
import type { QfsClient } from '../../src/sdk/client.js'
import { failureCause } from '../../src/sdk/failures.js'
import { bytesOf } from '../engine/suite.js'
import type { Libp2pNetwork } from '../net/harness.js'
import { networkClient } from './harness.js'

/**
 * A `putContent` whose own content source throws: the source's failure, answered with its own code
 * (never NODE_UNAVAILABLE, which says "retry through another node"), its error kept as the cause,
 * and nothing written, so the same version then takes other content.
 */
describe('a content source that fails while a write sends it', () => {
  let net: Libp2pNetwork
  let client: QfsClient
  const metadata = { author_node_id: 'source-test', created_at_tick: 1 }

  beforeAll(async () => {
    ;({ net, client } = await networkClient(4))
  })
  afterAll(async () => {
    await client?.close()
    await net?.close()
  })

  const unreadable = Object.assign(new Error('EACCES: permission denied, open secret'), { code: 'EACCES' })

  async function* failingAfter(bytes: Uint8Array, err: Error): AsyncGenerator<Uint8Array> {
    yield bytes
    throw err
  }

  it('answers CONTENT_SOURCE_FAILED with the source error as the cause, whenever the source throws', async () => {
    const oid = objectId('source', 'async')
    const sources = [
      // At once, before a byte.
      { size: 10, chunks: failingAfter(new Uint8Array(0), unreadable) },
      // Mid-way, after some bytes went out.
      { size: 600_000, chunks: failingAfter(bytesOf('partial', 300_000), unreadable) },
      // A synchronous iterable that throws.
      {
        size: 4,
        chunks: {
          *[Symbol.iterator]() {
            yield new Uint8Array(2)
            throw unreadable
          },
        },
      },
    ]
    for (const source of sources) {
      const answer = await client.putContent(oid, 1, source, metadata)
      expect(answer).toEqual({
        ok: false,
        error_code: 'SE_ERR_INTERNAL',
        error_detail: 'the content source failed while the write was sending it: nothing was written',
        code: 'CONTENT_SOURCE_FAILED',
        storage_event_id: null,
      })
      const cause = failureCause(answer as Extract<typeof answer, { ok: false }>)
      expect(cause).toBeInstanceOf(ContentSourceError)
      expect((cause as Error).cause).toBe(unreadable)
    }
    // Nothing was decided at version 1: other content takes it.
    const stored = await client.putContent(oid, 1, bytesOf('after-failures', 1000), metadata)
    expect(stored.ok).toBe(true)
  })

  it('throws ContentSourceError, not NodeUnavailableError, from the wire client', async () => {
    const wire = new StorageClient({ libp2p: net.outsider })
    const peer = net.libp2p.get(net.nodeIds[1]!)!.getMultiaddrs()[0]!
    const request = {
      object_id: objectId('source', 'wire'),
      version: 1,
      metadata,
      content_size: 100,
    }
    const thrown = await wire.put(peer, request, failingAfter(new Uint8Array(50), unreadable)).catch((e) => e)
    expect(thrown).toBeInstanceOf(ContentSourceError)
    expect(thrown).not.toBeInstanceOf(NodeUnavailableError)
    expect(thrown.cause).toBe(unreadable)
  })
})
