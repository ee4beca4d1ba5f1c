import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { replicaPreopenBytes } from '../../src/net/write-admission.js'
import { bytesOf, meta } from '../engine/suite.js'
import { type Libp2pNetwork, libp2pHarness } from './harness.js'

const KIB = 1024
const BLOCK = 256 * KIB
const IDLE_MS = 400
/** The slowest client the nodes below accept (their write_min_bytes_per_second). */
const MIN_RATE = 1024 * KIB

/** `content` in 64 KiB pieces at `bytesPerSecond`, paced from the first piece. */
async function* paced(content: Uint8Array, bytesPerSecond: number): AsyncIterable<Uint8Array> {
  const piece = 64 * KIB
  const start = performance.now()
  for (let at = 0; at < content.length; at += piece) {
    const due = start + (at * 1000) / bytesPerSecond
    const wait = due - performance.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    yield content.subarray(at, at + piece)
  }
}

describe('replicaPreopenBytes', () => {
  it('keeps a pre-opened replica stream waiting at most half an idle timeout for its first block at the minimum rate (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1024 * 1024 * KIB }),
        fc.integer({ min: 1, max: 0x7fffffff }),
        fc.constantFrom(64 * KIB, BLOCK, 1024 * KIB),
        (rate, idle, block) => {
          const ahead = replicaPreopenBytes({ writeMinBytesPerSecond: rate, idleTimeoutMs: idle }, block)
          expect(Number.isSafeInteger(ahead) && ahead >= 0 && ahead <= 4 * 1024 * KIB).toBe(true)
          // Bytes a slowest-rate client sends before the stream's first block: the window plus one block.
          if (ahead > 0) expect(BigInt(ahead + block) * 2000n <= BigInt(rate) * BigInt(idle)).toBe(true)
          // Not needlessly small: one byte more would break the bound, unless the cap is reached.
          if (ahead < 4 * 1024 * KIB)
            expect(BigInt(ahead + 1 + block) * 2000n > BigInt(rate) * BigInt(idle)).toBe(true)
        },
      ),
      { seed: 0x51a0, numRuns: 500 },
    )
  })
})

/**
 * `content` as a client that sends fast, then stalls inside a block for `stallMs`, sending 1 KiB
 * every 100 ms (so its coordinator hears from it), then sends the rest: the coordinator has no whole
 * block for any replica during the stall.
 */
async function* bursty(content: Uint8Array, stallAt: number, stallMs: number): AsyncIterable<Uint8Array> {
  yield content.subarray(0, stallAt)
  let at = stallAt
  const until = performance.now() + stallMs
  while (performance.now() < until) {
    await new Promise((r) => setTimeout(r, 100))
    yield content.subarray(at, at + KIB)
    at += KIB
  }
  yield content.subarray(at)
}

describe('replica streams of a slow client (idle timeout 400 ms)', () => {
  let net: Libp2pNetwork
  beforeAll(async () => {
    net = await libp2pHarness(5, {
      idleTimeoutMs: IDLE_MS,
      preopenBytes: replicaPreopenBytes({ writeMinBytesPerSecond: MIN_RATE, idleTimeoutMs: IDLE_MS }, BLOCK),
    })
  })
  afterAll(async () => {
    await net?.close()
  })

  /** Writes through node `via`, then expects every replica to hold it and node `readVia` to read it back. */
  const storedEverywhere = async (
    name: string,
    content: Uint8Array,
    chunks: AsyncIterable<Uint8Array>,
    via: number,
    readVia: number,
  ) => {
    const oid = objectId('slow', name)
    const put = await net
      .engine(net.nodeIds[via]!)
      .putContent(oid, 1, { size: content.length, chunks }, meta(1))
    if (!put.ok) throw new Error(JSON.stringify(put))
    expect(put.under_replicated).toEqual({})
    const got = await net.engine(net.nodeIds[readVia]!).getContent(oid, 1)
    expect(got.ok && Buffer.from(got.content_bytes).equals(Buffer.from(content))).toBe(true)
  }

  it('is stored on every replica: no replica stream waits out its idle timeout for bytes not yet sent', async () => {
    // 3 MiB in four 768 KiB shards streamed to their replicas; at 2 MiB/s the last shard starts about
    // 1.1 s in, nearly three idle timeouts after the write began.
    const content = bytesOf('slow-writer', 3 * 1024 * KIB)
    await storedEverywhere('writer', content, paced(content, 2 * MIN_RATE), 0, 2)
  }, 30_000)

  it('keeps every replica stream, in progress or opened ahead, through a stall of four idle timeouts inside a block', async () => {
    // Four 512 KiB shards, each streamed (over the inline size) and all opened ahead; the stall falls
    // in shard 0's second block, so no replica gets a block for 1.6 s. KEEPALIVE frames carry them.
    const content = bytesOf('bursty-writer', 2 * 1024 * KIB)
    await storedEverywhere('bursty', content, bursty(content, BLOCK + 64 * KIB, 4 * IDLE_MS), 1, 3)
  }, 30_000)
})
