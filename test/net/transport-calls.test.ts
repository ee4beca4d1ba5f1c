import type { Libp2p, Stream } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { recordWireBytes } from '../../src/core/record.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import { MAX_LIST_ANSWER_BYTES } from '../../src/engine/list.js'
import type { NodeService } from '../../src/engine/node-service.js'
import { FrameStream } from '../../src/net/frame-stream.js'
import { encodeJsonFrame, type JsonObject, MAX_FRAME_BYTES } from '../../src/net/frames.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { MAX_ABORT_IDS } from '../../src/net/messages.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { MAX_INLINE_SHARD_BYTES } from '../../src/net/rpc-messages.js'
import { type StorageProtocolService, storageProtocol } from '../../src/net/service.js'
import { Libp2pTransport } from '../../src/net/transport.js'
import { buildVersion, TEST_PARAMS, testObjectId } from '../store/helpers.js'
import { openStreams, testPeerKey } from './harness.js'

// Libp2pTransport's calls against a server whose NodeService only records what reaches it, and a
// fake node that answers out of protocol and then keeps its end open: what the calling end sends,
// and that it lets go of a stream whose exchange failed rather than leave it to the peer.

const listed = buildVersion({
  objectId: testObjectId('transport-calls'),
  version: 1,
  content: new Uint8Array(1),
}).record
/** Records enough that the last one follows a record reaching MAX_LIST_ANSWER_BYTES. */
const pastBound = Math.ceil(MAX_LIST_ANSWER_BYTES / recordWireBytes(listed)) + 1

async function settle(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => 'resolved',
    (err: unknown) => err,
  )
}

describe('Libp2pTransport calls over real libp2p nodes', () => {
  let server: Libp2p
  let client: Libp2p
  let fake: Libp2p
  let service: StorageProtocolService
  const aborted: string[][] = []
  const transports: Libp2pTransport[] = []
  const addrsOf = (id: string) =>
    id === server.peerId.toString()
      ? server.getMultiaddrs()
      : id === fake.peerId.toString()
        ? fake.getMultiaddrs()
        : []
  const transportFrom = (node: Libp2p) => {
    const t = new Libp2pTransport(
      { libp2p: node, resolve: addrsOf },
      { limits: { idleTimeoutMs: 5_000, requestTimeoutMs: 5_000 } },
    )
    transports.push(t)
    return t
  }
  /** Streams of `protocol` that `node` opened to the fake node and that are still open. */
  const openTo = (node: Libp2p, protocol: string): Stream[] =>
    openStreams(node, protocol, { peer: fake.peerId, direction: 'outbound' })

  beforeAll(async () => {
    const node = async (i: number): Promise<Libp2p> =>
      createQfsLibp2p({ privateKey: await testPeerKey(i), listen: ['/ip4/127.0.0.1/tcp/0'] })
    ;[server, client, fake] = await Promise.all([node(40), node(41), node(42)])
    const recording = {
      nodeId: server.peerId.toString(),
      abortStaging: async (ids: string[]) => {
        aborted.push(ids)
      },
    } as unknown as NodeService
    service = storageProtocol({ node: recording })({ registrar: server })
    await service.start()
    // A fake node: a manifest answer out of protocol, then silence with its end left open; a push
    // stream it reads nothing of.
    await fake.handle(PROTOCOLS.replicaManifest, async (stream) => {
      const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, idleMs: 30_000 })
      await fs.read().catch(() => {})
      for (const p of encodeJsonFrame({ manifest: 5 })) stream.send(p)
    })
    await fake.handle(PROTOCOLS.replicaPush, () => {})
    // A replica channel that answers its first request with bytes that are no frame, then keeps
    // its end open.
    await fake.handle(PROTOCOLS.replicaRpc, async (stream) => {
      const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, idleMs: 30_000 })
      await fs.read().catch(() => {})
      stream.send(Uint8Array.of(0x00))
    })
    // A listing answer of one object's versions in order, past the most a node answers, then END.
    await fake.handle(PROTOCOLS.replicaList, async (stream) => {
      const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, idleMs: 30_000 })
      await fs.read().catch(() => {})
      for (let v = 1; v <= pastBound; v++) {
        const record = buildVersion({
          objectId: testObjectId('transport-calls'),
          version: v,
          kind: v === 1 ? 'STORE' : 'UPDATE',
          content: new Uint8Array(1),
        }).record
        await fs.write(encodeJsonFrame(record as unknown as JsonObject))
      }
      await fs.writeEnd()
      await fs.close()
    })
  })

  afterAll(async () => {
    for (const t of transports) t.close()
    await service?.stop()
    await Promise.all([server, client, fake].filter(Boolean).map((n) => n.stop()))
  })

  it(`takes back every staged shard named, in requests of at most ${MAX_ABORT_IDS} ids`, async () => {
    const transport = transportFrom(client)
    const ids = Array.from({ length: 2 * MAX_ABORT_IDS + 1 }, (_, i) => `staging-${i}`)
    await transport.abortStaging(server.peerId.toString(), ids)
    expect(aborted.map((batch) => batch.length)).toEqual([MAX_ABORT_IDS, MAX_ABORT_IDS, 1])
    expect(aborted.flat()).toEqual(ids)
  })

  it('sends no request whose caller already gave up', async () => {
    const transport = transportFrom(client)
    const before = aborted.length
    const gaveUp = AbortSignal.abort(new Error('the write moved on'))
    const err = await settle(
      transport.abortStaging(server.peerId.toString(), ['staging-x'], { signal: gaveUp }),
    )
    expect(err).toBeInstanceOf(Error)
    // A later request on the same channel is answered; the one given up on never reached the node.
    await transport.abortStaging(server.peerId.toString(), ['staging-y'])
    expect(aborted.slice(before)).toEqual([['staging-y']])
  })

  it('resets a push stream whose header could not be sent, rather than leave it open', async () => {
    const transport = transportFrom(client)
    const oid = objectId('transport-calls', 'push')
    const header = {
      object_id: oid,
      version: 1,
      shard_index: 0,
      shard_id: shardId(oid, 1, 0),
      length: MAX_INLINE_SHARD_BYTES + 1,
      block_size_bytes: DEFAULT_PARAMS.blockSizeBytes,
      // No frame carries a header this large: the send fails after the stream opened.
      padding: 'x'.repeat(MAX_FRAME_BYTES),
    }
    const err = await settle(transport.openShard(fake.peerId.toString(), header))
    expect(err).toBeInstanceOf(NodeUnavailableError)
    expect(openTo(client, PROTOCOLS.replicaPush)).toEqual([])
  })

  it('takes no more than MAX_LIST_ANSWER_BYTES of records from a peer, though asked for more', async () => {
    // Deadlines well above what this takes (3.3 s measured on a loaded machine, for 4 MiB of records):
    // a 5 s deadline once ended the exchange (TIMEOUT) before the byte bound did, the bound being
    // what the test is about.
    const transport = new Libp2pTransport(
      { libp2p: client, resolve: addrsOf },
      { limits: { idleTimeoutMs: 20_000, requestTimeoutMs: 20_000 }, params: TEST_PARAMS },
    )
    transports.push(transport)
    const asked = { limit: pastBound, max_bytes: 2 * MAX_LIST_ANSWER_BYTES }
    const err = await settle(transport.listRecords(fake.peerId.toString(), asked))
    expect(err).toBeInstanceOf(NodeUnavailableError)
    expect((err as Error).cause).toMatchObject({
      code: 'FRAME_INVALID',
      message: expect.stringContaining('bytes asked for'),
    })
  })

  it('stages nothing, not even on its own node, for a caller that already gave up', async () => {
    const staged: unknown[] = []
    const local = { nodeId: 'this-node', stageShards: async (s: unknown[]) => staged.push(...s) }
    const transport = new Libp2pTransport({
      libp2p: client,
      resolve: addrsOf,
      local: local as unknown as NodeService,
    })
    const oid = objectId('transport-calls', 'stage')
    const shard = {
      header: {
        object_id: oid,
        version: 1,
        shard_index: 0,
        shard_id: shardId(oid, 1, 0),
        length: 1,
        block_size_bytes: DEFAULT_PARAMS.blockSizeBytes,
      },
      bytes: new Uint8Array(1),
    }
    const gaveUp = AbortSignal.abort(new Error('the write moved on'))
    await expect(transport.stageShards('this-node', [shard], { signal: gaveUp })).rejects.toThrow(
      'the write moved on',
    )
    expect(staged).toEqual([])
  })

  it('resets a replica channel that failed, though the node keeps its end open', async () => {
    const transport = transportFrom(client)
    const err = await settle(transport.getRecord(fake.peerId.toString(), objectId('transport-calls', 'r'), 1))
    expect(err).toBeInstanceOf(NodeUnavailableError)
    expect(openTo(client, PROTOCOLS.replicaRpc)).toEqual([])
  })

  it('resets a manifest stream whose answer breaks the protocol, though the node keeps its end open', async () => {
    const transport = transportFrom(client)
    const err = await settle(transport.getManifest(fake.peerId.toString(), 'a'.repeat(64)))
    expect(err).toBeInstanceOf(NodeUnavailableError)
    expect(openTo(client, PROTOCOLS.replicaManifest)).toEqual([])
  })
})
