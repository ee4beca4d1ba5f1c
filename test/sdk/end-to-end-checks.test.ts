import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import type { VersionRecord } from '../../src/core/record.js'
import type { StorageEngine } from '../../src/engine/engine.js'
import type { NodeTransport } from '../../src/engine/transport.js'
import { StorageClient } from '../../src/net/client.js'
import { QfsClient } from '../../src/sdk/client.js'
import { meta } from '../engine/suite.js'
import { type Libp2pNetwork, libp2pHarness } from '../net/harness.js'
import { nodeAddress } from './harness.js'

/**
 * What the client decides on its own against real nodes over libp2p: the whole-content check a
 * serving node leaves to it, and what an abort before the last byte means for a write.
 */
describe('the client over libp2p, where the node leaves the decision to it', () => {
  let net: Libp2pNetwork
  let client: QfsClient
  beforeAll(async () => {
    net = await libp2pHarness(4)
    client = await QfsClient.create({ node: nodeAddress(net, net.nodeIds[0]!), libp2p: net.outsider })
  })
  afterAll(async () => {
    await client?.close()
    await net?.close()
  })

  it('a record whose roots hold but whose hash_commit does not: the node serves it whole, the SDK refuses it', async () => {
    const oid = objectId('e2e-checks', 'bad-commit')
    const content = new Uint8Array(600_000).map((_, i) => i & 0xff)
    expect((await net.engine(net.nodeIds[0]!).putContent(oid, 1, content, meta(1))).ok).toBe(true)
    // The serving node's homes answer the record with another hash_commit (a coordinator's lie).
    const server = net.nodeIds[1]!
    const transport = (net.engine(server) as unknown as { calls: { ctx: { transport: NodeTransport } } })
      .calls.ctx.transport
    const original = transport.getRecord.bind(transport)
    transport.getRecord = async (...args: Parameters<NodeTransport['getRecord']>) => {
      const r = (await original(...args)) as VersionRecord | undefined
      return r?.object_id === oid ? { ...r, hash_commit: 'ab'.repeat(32) } : r
    }
    try {
      const wire = new StorageClient({ libp2p: net.outsider })
      const opened = await wire.read(
        multiaddr(nodeAddress(net, server)),
        { object_id: oid, version: 1 },
        { verify: false },
      )
      if (!opened.ok) throw new Error(opened.code)
      let bytes = 0
      for await (const piece of opened.content) bytes += piece.length
      expect(bytes).toBe(content.length)
      expect((await opened.trailer).ok).toBe(true)
      const sdk = await QfsClient.create({ node: nodeAddress(net, server), libp2p: net.outsider })
      try {
        expect(await sdk.getContent(oid, 1)).toMatchObject({ ok: false, code: 'INTEGRITY_MISMATCH' })
      } finally {
        await sdk.close()
      }
      // The node's own in-process readers keep the check.
      expect(await (net.engine(server) as StorageEngine).getContent(oid, 1)).toMatchObject({
        ok: false,
        code: 'INTEGRITY_MISMATCH',
      })
    } finally {
      transport.getRecord = original
    }
  })

  it('a write aborted while its content is still coming sends no END: NODE_UNAVAILABLE, nothing stored', async () => {
    const oid = objectId('e2e-checks', 'abort-before-end')
    const half = new Uint8Array(50_000).fill(7)
    const stop = new AbortController()
    async function* content() {
      yield half
      // The caller gives up between two chunks, once the first has gone out: the stream has room
      // for the next, so only a look at the signal stops it.
      await new Promise((resolve) => setTimeout(resolve, 300))
      stop.abort()
      yield half
    }
    const answer = await client.putContent(oid, 1, { size: 100_000, chunks: content() }, meta(1), {
      signal: stop.signal,
    })
    expect(answer).toMatchObject({ ok: false, code: 'NODE_UNAVAILABLE' })
    expect(await client.getContent(oid, 1)).toMatchObject({ ok: false, code: 'NOT_FOUND' })
  })
})
