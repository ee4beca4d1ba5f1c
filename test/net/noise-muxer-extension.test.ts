/**
 * docs/protocol.md section 1: the node's Noise handshake payload lists its muxer in its extensions
 * (`stream_muxers: ["/yamux/1.0.0"]`, libp2p's inlined muxer negotiation), and a client may instead
 * send none and negotiate yamux with multistream-select after Noise (the Python interop client does).
 * Seen from a dialling libp2p: with the inlined choice its upgrader skips the multistream muxer step.
 */
import { describe, expect, it } from 'vitest'
import { nodeAndBareClients } from './harness.js'

describe("the node's Noise extensions (docs/protocol.md section 1)", () => {
  const net = nodeAndBareClients()

  /** The upgrade steps a client dialling the node goes through, and the muxer it ends up with. */
  async function dialSteps(): Promise<{ steps: string[]; muxer: string | undefined }> {
    const client = await net.bareClient()
    const steps: string[] = []
    const connection = await client.dial(net.node.getMultiaddrs(), { onProgress: (e) => steps.push(e.type) })
    return { steps: steps.filter((s) => s.startsWith('upgrader:')), muxer: connection.multiplexer }
  }

  // The dialler takes the muxer from the remote's extensions (@chainsafe/libp2p-noise): had the node
  // listed none, the upgrader would negotiate one with multistream-select.
  it('lists yamux, so a client that lists it too skips the multistream muxer step', async () => {
    const { steps, muxer } = await dialSteps()
    expect(steps).toContain('upgrader:encrypt-outbound-connection')
    expect(steps).not.toContain('upgrader:multiplex-outbound-connection')
    expect(muxer).toBe('/yamux/1.0.0')
  })
})
