import { createReadStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { QfsClient } from '../../src/sdk/client.js'
import { bytesOf } from '../engine/suite.js'
import type { Libp2pNetwork } from '../net/harness.js'
import { networkClient, nodeAddress } from './harness.js'
import { type StubNode, stubNode } from './stub.js'

/**
 * Content sources that stop, or fail before they are read: a write waits for its caller's content
 * as long as it takes, but never past the caller's signal or the node's own end of the exchange,
 * and a source's failure is the source's, never the end of the process.
 */
describe('a write whose content source stalls or fails before its first byte', () => {
  let net: Libp2pNetwork
  let client: QfsClient
  let stub: StubNode
  const metadata = { author_node_id: 'stalled-source', created_at_tick: 1 }

  beforeAll(async () => {
    ;({ net, client } = await networkClient(4))
    stub = await stubNode(2450)
    stub.behaviour.store = () => ({ ok: true })
  })
  afterAll(async () => {
    await client?.close()
    await stub?.close()
    await net?.close()
  })

  async function* stalledAfter(bytes: number): AsyncGenerator<Uint8Array> {
    if (bytes > 0) yield new Uint8Array(bytes)
    await new Promise(() => {})
  }

  it("ends at the caller's abort, before or after the first chunk, and nothing is decided", async () => {
    const oid = objectId('stalled', 'abort')
    for (const first of [0, 10]) {
      const stop = new AbortController()
      const answer = client.putContent(oid, 1, { size: 100, chunks: stalledAfter(first) }, metadata, {
        signal: stop.signal,
      })
      setTimeout(() => stop.abort(), 200)
      expect(await answer).toMatchObject({ ok: false, code: 'NODE_UNAVAILABLE' })
    }
    // The version is free: the same write with content takes it.
    expect(await client.putContent(oid, 1, bytesOf('after-stall', 100), metadata)).toMatchObject({
      ok: true,
    })
  })

  it('ends when the node ends the exchange while the source is silent, without a signal', async () => {
    // The stub gives up on a write after 5 s without a frame and resets the stream.
    const fromStub = await QfsClient.create({ node: stub.address, libp2p: net.outsider })
    try {
      const answer = await fromStub.putContent(
        objectId('stalled', 'node-gone'),
        1,
        { size: 100, chunks: stalledAfter(10) },
        metadata,
      )
      expect(answer).toMatchObject({ ok: false, code: 'NODE_UNAVAILABLE' })
    } finally {
      await fromStub.close()
    }
  }, 20_000)

  it('answers CONTENT_SOURCE_FAILED for a file stream that cannot open, and the process lives on', async () => {
    const missing = join(tmpdir(), `qfs-no-such-file-${process.pid}`)
    const answer = await client.putContent(
      objectId('stalled', 'missing-file'),
      1,
      { size: 10, chunks: createReadStream(missing) },
      metadata,
    )
    expect(answer).toMatchObject({ ok: false, code: 'CONTENT_SOURCE_FAILED' })
  })

  it('refuses chunks that are not iterable as INVALID_INPUT, before any dial', async () => {
    for (const chunks of [{}, 5, 'x']) {
      const answer = await client.putContent(
        objectId('stalled', 'not-iterable'),
        1,
        { size: 1, chunks } as never,
        metadata,
      )
      expect(answer).toMatchObject({ ok: false, code: 'INVALID_INPUT' })
    }
  })

  it('refuses a signal that is no AbortSignal with INVALID_INPUT on every call, before any dial', async () => {
    const bad = { signal: 'x' as unknown as AbortSignal }
    const oid = objectId('stalled', 'bad-signal')
    const answers = [
      await client.putContent(oid, 1, new Uint8Array(3), metadata, bad),
      await client.deleteContent(oid, 1, metadata, bad),
      await client.getContent(oid, 1, bad),
      await client.readContent(oid, 1, bad),
      await client.getRecord(oid, 1, bad),
      await client.fetchStorageProof(oid, 1, 'ab'.repeat(32), bad),
      await client.listObjects({}, bad),
    ]
    for (const answer of answers)
      expect(answer).toMatchObject({
        ok: false,
        code: 'INVALID_INPUT',
        error_detail: 'options.signal must be an AbortSignal',
      })
  })

  it('refuses timeouts no timer can keep with INVALID_INPUT, starting no node', async () => {
    for (const idleMs of [0, -1, 1.5, Number.NaN, 2 ** 31, '5' as unknown as number]) {
      await expect(
        QfsClient.create({ node: nodeAddress(net, net.nodeIds[0]!), timeouts: { idleMs } }),
      ).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    }
    await expect(
      QfsClient.create({ node: nodeAddress(net, net.nodeIds[0]!), timeouts: { requestMs: 2 ** 31 } }),
    ).rejects.toMatchObject({ message: 'timeouts.requestMs must be whole milliseconds in 1..2147483647' })
  })
})
