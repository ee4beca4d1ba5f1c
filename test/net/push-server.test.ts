import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { FrameStream } from '../../src/net/frame-stream.js'
import { MAX_FRAME_BYTES } from '../../src/net/frames.js'
import { MAX_KEEPALIVES_PER_SECOND, PROTOCOLS, PUSH_KEEPALIVE_IDLE_FACTOR } from '../../src/net/protocols.js'
import { answers } from './answers.js'
import { type Libp2pNetwork, libp2pHarness } from './harness.js'

const IDLE_MS = 100
const LIMIT_MS = IDLE_MS * PUSH_KEEPALIVE_IDLE_FACTOR

/**
 * The replica/push server (docs/protocol.md 2, 4.6), against a real node with a 100 ms idle timeout
 * and at most 2 push streams per peer: an eligible peer writes the frames by hand.
 */
describe('replica/push at the server: keep-alives and streams per peer', () => {
  let net: Libp2pNetwork
  beforeAll(async () => {
    net = await libp2pHarness(3, { idleTimeoutMs: IDLE_MS, serviceLimits: { maxDataStreamsPerPeer: 2 } })
  })
  afterAll(async () => {
    await net?.close()
  })

  const push = async (): Promise<FrameStream> => {
    const [from, to] = [net.libp2p.get(net.nodeIds[0]!)!, net.libp2p.get(net.nodeIds[1]!)!]
    const stream = await from.dialProtocol(to.getMultiaddrs(), PROTOCOLS.replicaPush)
    return new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, idleMs: 10_000 })
  }
  const header = (name: string) => {
    const oid = objectId('keepalive', name)
    return {
      object_id: oid,
      version: 1,
      shard_index: 0,
      shard_id: shardId(oid, 1, 0),
      length: 2 * DEFAULT_PARAMS.blockSizeBytes,
      block_size_bytes: DEFAULT_PARAMS.blockSizeBytes,
    }
  }

  it(`keep a push open past its idle timeout, up to ${PUSH_KEEPALIVE_IDLE_FACTOR} idle timeouts without a block, then end it (TIMEOUT)`, async () => {
    const fs = await push()
    await fs.writeJson(header('held'))
    const started = performance.now()
    const ended = answers(fs)
    let done = false
    void ended.then(() => {
      done = true
    })
    while (!done && performance.now() - started < LIMIT_MS + 5_000) {
      fs.sendKeepAlive()
      await new Promise((r) => setTimeout(r, IDLE_MS / 4))
    }
    const frames = await ended
    const elapsed = performance.now() - started
    expect(frames).toEqual([
      expect.objectContaining({ type: 'error', error: expect.objectContaining({ code: 'TIMEOUT' }) }),
    ])
    // Alive far beyond one idle timeout, and ended about when the limit says.
    expect(elapsed).toBeGreaterThanOrEqual(LIMIT_MS)
    expect(elapsed).toBeLessThan(LIMIT_MS + 2_000)
    fs.abort(new Error('test done'))
  }, 15_000)

  it(`end a push that sends more than ${MAX_KEEPALIVES_PER_SECOND} in a second (FRAME_INVALID)`, async () => {
    const fs = await push()
    await fs.writeJson(header('flood'))
    const started = performance.now()
    const ended = answers(fs)
    let done = false
    void ended.then(() => {
      done = true
    })
    // Under the rate for a second and a half, two every 40 ms (50 a second; the idle timeout is
    // 100 ms), then a burst.
    while (performance.now() - started < 1_500) {
      fs.sendKeepAlive()
      fs.sendKeepAlive()
      await new Promise((r) => setTimeout(r, 40))
    }
    expect(done).toBe(false)
    for (let k = 0; k < 100_000 && !done; k++) {
      fs.sendKeepAlive()
      if (k % 100 === 99) await new Promise((r) => setTimeout(r, 1))
    }
    const frames = await ended
    expect(frames).toEqual([
      expect.objectContaining({ type: 'error', error: expect.objectContaining({ code: 'FRAME_INVALID' }) }),
    ])
    // The burst ended it, well before the keep-alive time limit would have.
    expect(performance.now() - started).toBeLessThan(LIMIT_MS)
    fs.abort(new Error('test done'))
  })

  it('are refused before the header (UNKNOWN_MESSAGE), as on every other stream', async () => {
    const fs = await push()
    fs.sendKeepAlive()
    const frames = await answers(fs)
    expect(frames).toEqual([
      expect.objectContaining({ type: 'error', error: expect.objectContaining({ code: 'UNKNOWN_MESSAGE' }) }),
    ])
    fs.abort(new Error('test done'))
  })

  it('takes at most maxDataStreamsPerPeer pushes from one peer at once (NODE_BUSY beyond), and frees a slot as one ends', async () => {
    // Held open by keep-alives (the idle timeout is 100 ms) for as long as the test needs them.
    const held = async (name: string) => {
      const fs = await push()
      await fs.writeJson(header(name))
      const timer = setInterval(() => fs.sendKeepAlive(), IDLE_MS / 4)
      return { fs, stop: () => clearInterval(timer) }
    }
    const first = await held('one')
    const second = await held('two')
    // Both are being served (each waits for its DATA) before the third asks.
    await new Promise((r) => setTimeout(r, 50))
    const third = await push()
    await third.writeJson(header('three'))
    expect(await answers(third)).toEqual([
      expect.objectContaining({ type: 'error', error: expect.objectContaining({ code: 'NODE_BUSY' }) }),
    ])
    third.abort(new Error('test done'))
    first.stop()
    first.fs.abort(new Error('test done'))
    // The reset ends the first exchange at the server; its slot goes back.
    await new Promise((r) => setTimeout(r, 200))
    const fourth = await push()
    await fourth.writeJson(header('four'))
    // Served: it waits for DATA until its idle timeout, not refused at once.
    expect(await answers(fourth)).toEqual([
      expect.objectContaining({ type: 'error', error: expect.objectContaining({ code: 'TIMEOUT' }) }),
    ])
    second.stop()
    second.fs.abort(new Error('test done'))
    fourth.abort(new Error('test done'))
  })

  it('keeps counting the pushes still open after one of them ends', async () => {
    const held = async (name: string) => {
      const fs = await push()
      await fs.writeJson(header(name))
      const timer = setInterval(() => fs.sendKeepAlive(), IDLE_MS / 4)
      return { fs, stop: () => clearInterval(timer) }
    }
    const first = await held('five')
    const second = await held('six')
    await new Promise((r) => setTimeout(r, 50))
    first.stop()
    first.fs.abort(new Error('test done'))
    await new Promise((r) => setTimeout(r, 200))
    // One still open and one new: the peer is at its 2 again, and one more is refused.
    const third = await held('seven')
    await new Promise((r) => setTimeout(r, 50))
    const fourth = await push()
    await fourth.writeJson(header('eight'))
    expect(await answers(fourth)).toEqual([
      expect.objectContaining({ type: 'error', error: expect.objectContaining({ code: 'NODE_BUSY' }) }),
    ])
    fourth.abort(new Error('test done'))
    for (const h of [second, third]) {
      h.stop()
      h.fs.abort(new Error('test done'))
    }
  })
})
