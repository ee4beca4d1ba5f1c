import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ACK_BYTES, FrameSplitter, frame } from '../../src/bench/round-frames.js'
import { roundsFloor } from '../../src/bench/rounds-floor.js'

/**
 * bench:floor's small-put floor claims a put of k rounds made k frames to each of four peers and one
 * answer. Its figures are timings; what can fail here is that shape: the peer and coordinator
 * processes count what they served, and those counts must be what the rounds asked.
 */

describe('FrameSplitter (the floor processes framing)', () => {
  it('gives back the payloads whole, wherever the byte stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (payloads, cuts) => {
          const bytes = Buffer.concat(
            payloads.map((p) => {
              const f = frame(p.length)
              f.set(p, 4)
              return f
            }),
          )
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
          const splitter = new FrameSplitter(1024)
          const out: Uint8Array[] = []
          let from = 0
          for (const to of [...points, bytes.length]) {
            out.push(...splitter.push(bytes.subarray(from, to)).map((f) => Uint8Array.from(f)))
            from = to
          }
          expect(out).toEqual(payloads.map((p) => Uint8Array.from(p)))
        },
      ),
    )
  })

  it('refuses a declared length over its bound', () => {
    expect(() => new FrameSplitter(16).push(frame(17))).toThrow(/17 bytes over 16/)
    expect(new FrameSplitter(16).push(frame(16))).toHaveLength(1)
  })

  it('frames a length as u32 big-endian', () => {
    expect([...frame(0x010203).subarray(0, 4)]).toEqual([0, 1, 2, 3])
    expect(frame(5)).toHaveLength(9)
    expect(ACK_BYTES).toBeGreaterThan(0)
  })
})

const roundNode = fileURLToPath(new URL('../../dist/bench/round-node.js', import.meta.url))

describe('roundsFloor', () => {
  it('makes each put of k rounds send k frames to every one of the four peers, and answers it', async () => {
    if (!existsSync(roundNode)) throw new Error('dist/ is missing: run `npm run build` first (npm test does)')
    const roundCounts = [1, 3, 2]
    const run = await roundsFloor({ roundCounts, puts: 7, block: 3, warmup: 2, nodeScript: roundNode })
    // Every put, warm-up included, is answered once by the coordinator ...
    expect(run.served.coordinator).toBe((7 + 2) * roundCounts.length)
    // ... and a put of k rounds reaches each peer k times.
    const framesPerPeer = (7 + 2) * (1 + 3 + 2)
    expect(run.served.peers).toEqual([framesPerPeer, framesPerPeer, framesPerPeer, framesPerPeer])
    expect(run.results.map((r) => [r.rounds, r.puts])).toEqual([
      [1, 7],
      [3, 7],
      [2, 7],
    ])
    for (const r of run.results) {
      expect(r.p50_ms).toBeGreaterThan(0)
      expect(r.p99_ms).toBeGreaterThanOrEqual(r.p50_ms)
      expect(r.cpu_ms_client).toBeGreaterThan(0)
      expect(r.cpu_ms_nodes).toBeGreaterThanOrEqual(0)
    }
  }, 60_000)
})

describe('the committed floor.json small-put floor', () => {
  it('served what its method says: every put, and a frame to each peer per round', async () => {
    const report = JSON.parse(await readFile('evidence/bench/floor.json', 'utf8'))
    const floor = report.small_put_rounds
    const [, puts, warmup] = /^(\d+) puts of 4 KiB per round count after (\d+) of warm-up/
      .exec(floor.method)!
      .map(Number)
    const counts = floor.results.map((r: { rounds: number }) => r.rounds)
    expect(counts).toEqual([1, 2, 3])
    const each = puts! + warmup!
    expect(floor.served.coordinator).toBe(each * counts.length)
    const frames = each * counts.reduce((a: number, b: number) => a + b, 0)
    expect(floor.served.peers).toEqual([frames, frames, frames, frames])
    for (const r of floor.results) {
      expect(r.puts).toBe(puts)
      expect(r.p99_ms).toBeGreaterThanOrEqual(r.p50_ms)
    }
  })
})
