import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import type { QfsClient } from '../../src/sdk/client.js'
import { bytesOf } from '../engine/suite.js'
import type { Libp2pNetwork } from '../net/harness.js'
import { networkClient } from './harness.js'

const MIB = 1024 * 1024

/**
 * What the caller does around a call must not turn into the node's failure: `cancel()` ends a read's
 * content quietly, and a progress callback that throws is reported as a process warning while the
 * call goes on.
 */
describe('cancelled reads and throwing progress callbacks', () => {
  let net: Libp2pNetwork
  let client: QfsClient
  const metadata = { author_node_id: 'cancel-progress', created_at_tick: 1 }
  const oid = objectId('cancel', 'big')
  const bytes = bytesOf('cancel-big', 3 * MIB + 11)

  beforeAll(async () => {
    ;({ net, client } = await networkClient(4))
    expect(await client.putContent(oid, 1, bytes, metadata)).toMatchObject({ ok: true })
  })
  afterAll(async () => {
    await client?.close()
    await net?.close()
  })

  it('ends the content quietly after cancel(), yielding nothing more', async () => {
    const opened = await client.readContent(oid, 1)
    if (!('content' in opened)) throw new Error(JSON.stringify(opened))
    let pieces = 0
    let after = 0
    for await (const piece of opened.content) {
      pieces++
      if (pieces === 1) opened.cancel()
      else after += piece.length
    }
    expect(pieces).toBe(1)
    expect(after).toBe(0)
    // A later read of the same version still verifies whole.
    const again = await client.getContent(oid, 1)
    expect(again).toMatchObject({ ok: true })
    expect(Buffer.from((again as { content_bytes: Uint8Array }).content_bytes).equals(bytes)).toBe(true)
  })

  it('goes on when onProgress throws, warning once, for a read and a write', async () => {
    const emit = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    try {
      let calls = 0
      const boom = () => {
        calls++
        throw new Error('bug in my progress bar')
      }
      const read = await client.getContent(oid, 1, { onProgress: boom })
      expect(read).toMatchObject({ ok: true })
      const streamed = await client.putContent(
        objectId('cancel', 'progress'),
        1,
        { size: 2 * MIB, chunks: [bytesOf('p1', MIB), bytesOf('p2', MIB)] },
        metadata,
        { onProgress: boom },
      )
      expect(streamed).toMatchObject({ ok: true })
      // Called once per call, then left alone; one warning each, naming the error.
      expect(calls).toBe(2)
      expect(emit).toHaveBeenCalledTimes(2)
      expect(emit.mock.calls[0]![0]).toBe(
        'onProgress threw, and is not called again for this call: bug in my progress bar',
      )
    } finally {
      emit.mockRestore()
    }
  })
})
