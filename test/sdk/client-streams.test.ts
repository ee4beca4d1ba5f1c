import type { Libp2p, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import { StorageClient } from '../../src/net/client.js'
import { FrameStream } from '../../src/net/frame-stream.js'
import { MAX_FRAME_BYTES } from '../../src/net/frames.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { openStreams, testPeerKey } from '../net/harness.js'
import { type HostileNode, hostileNode, sendRead } from './hostile.js'
import { fixture, honestRead } from './stub.js'

// What the wire client (StorageClient) does with a read's stream when its consumer leaves early:
// the stream is reset at once, so the node stops serving it, not left open for the node to fill;
// and a node that goes away mid-content is NODE_UNAVAILABLE, thrown, as from every other call.

const f = fixture('client-streams', 12 * DEFAULT_PARAMS.blockSizeBytes)
const REFUSED = {
  ok: false,
  code: 'VERSION_CONFLICT',
  error_code: 'SE_ERR_INVALID_VERSION',
  error_detail: 'refused',
  storage_event_id: null,
}
const cut = fixture('client-streams-cut', 4 * DEFAULT_PARAMS.blockSizeBytes)

describe('StorageClient read streams', () => {
  let node: HostileNode
  let dialer: Libp2p
  let client: StorageClient
  /** Streams of `protocol` from the client still open. */
  const open = (protocol: string): Stream[] => openStreams(dialer, protocol)

  beforeAll(async () => {
    node = await hostileNode(2320)
    // Another object: the header and one DATA frame, then the stream reset.
    await node.answer(PROTOCOLS.read, async (fs, stream, request) => {
      if (request.object_id === cut.oid) {
        const script = honestRead(cut)
        await fs.writeJson(script.header)
        await fs.writeData(script.data[0]!.subarray(0, 1000))
        stream.abort(new Error('the node went away'))
        return
      }
      await sendRead(fs, { ...honestRead(f), trailer: null })
      const reset = new Promise((resolve) => stream.addEventListener('close', resolve, { once: true }))
      await Promise.race([reset, new Promise((resolve) => setTimeout(resolve, 6_000))])
    })
    // A write refused as soon as its request is in; the node then waits for the client to end.
    await node.node.unhandle(PROTOCOLS.write)
    await node.node.handle(PROTOCOLS.write, async (stream) => {
      const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, idleMs: 10_000 })
      try {
        await fs.readJson()
        await fs.writeJson({ ...REFUSED })
        await fs.finish()
      } catch (err) {
        fs.abort(err as Error)
      }
    })
    dialer = await createQfsLibp2p({ privateKey: await testPeerKey(2321), listen: [] })
    client = new StorageClient({ libp2p: dialer })
  })

  afterAll(async () => {
    await dialer?.stop()
    await node?.close()
  })

  it('resets the stream of a read whose consumer stops after the first chunk', async () => {
    const opened = await client.read(multiaddr(node.address), { object_id: f.oid, version: 1 })
    if (!opened.ok) throw new Error('read refused')
    for await (const _ of opened.content) break
    const closed = await Promise.race([
      opened.closed.then(() => 'closed'),
      new Promise((r) => setTimeout(() => r('still open'), 2_000)),
    ])
    expect(closed).toBe('closed')
    expect(open(PROTOCOLS.read)).toEqual([])
    expect(await opened.trailer).toMatchObject({ ok: false, code: 'CANCELLED' })
  })

  it('throws NODE_UNAVAILABLE from readAll when the node goes away mid-content, as from any call', async () => {
    const read = client.readAll(multiaddr(node.address), { object_id: cut.oid, version: 1 })
    await expect(read).rejects.toBeInstanceOf(NodeUnavailableError)
  })

  it('resets the stream of a write the node refused before its content was all sent', async () => {
    const request = { object_id: f.oid, version: 2, metadata: f.metadata as never, content_size: 1 << 20 }
    async function* slowly() {
      for (let i = 0; i < 16; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        yield new Uint8Array(65_536)
      }
    }
    expect(await client.put(multiaddr(node.address), request, slowly())).toMatchObject(REFUSED)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(open(PROTOCOLS.write)).toEqual([])
  })
})
