import { LengthPrefixedDecoder } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { patchNoiseDecoder } from '../../src/net/noise-decoder.js'

/** The decoder the library gives a Noise connection (libp2p-noise utils.js). */
function libraryDecoder(maxBufferSize = 16 * 1024 * 1024): LengthPrefixedDecoder {
  return new LengthPrefixedDecoder({
    lengthDecoder: (data: Uint8ArrayList | Uint8Array) => {
      if (data.length < 2) throw RangeError('Could not decode int16BE')
      return data instanceof Uint8Array ? (data[0]! << 8) | data[1]! : data.getUint16(0)
    },
    maxBufferSize,
    encodingLength: () => 2,
  })
}

function patched(maxBufferSize?: number): LengthPrefixedDecoder {
  const decoder = libraryDecoder(maxBufferSize)
  patchNoiseDecoder({ connection: { decoder } })
  return decoder
}

/** Noise messages as they travel: a 2-byte big-endian length, then the bytes. */
function wire(lengths: number[]): Uint8Array {
  const parts = lengths.map((n, i) => {
    const m = new Uint8Array(2 + n)
    m[0] = n >> 8
    m[1] = n & 0xff
    m.fill(i & 0xff, 2)
    return m
  })
  return Buffer.concat(parts)
}

function decodeAll(decoder: LengthPrefixedDecoder, bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = []
  let from = 0
  for (const to of [...cuts, bytes.length]) {
    for (const m of decoder.decode(bytes.subarray(from, to))) out.push(m.subarray())
    from = to
  }
  return out
}

describe('Noise message decoder (net/noise-decoder.ts)', () => {
  it('replaces the decode of a connection shaped as the library makes it, and nothing else', () => {
    const decoder = libraryDecoder()
    const before = decoder.decode
    patchNoiseDecoder({ connection: { decoder } })
    expect(decoder.decode).not.toBe(before)
    const other = { connection: { decoder: { decode: before } } }
    patchNoiseDecoder(other)
    expect(other.connection.decoder.decode).toBe(before)
  })

  it('yields the messages the library would, however the bytes are cut', () => {
    const lengths = [0, 1, 2, 5, 300, 65535, 0, 7, 1000, 3]
    const bytes = wire(lengths)
    let seed = 7
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed
    }
    for (let round = 0; round < 200; round++) {
      const cuts = [...new Set(Array.from({ length: random() % 12 }, () => random() % bytes.length))].sort(
        (a, b) => a - b,
      )
      // Cuts inside a length prefix too: every byte boundary in the first rounds.
      if (round < 4) for (let i = 1; i < 12; i++) cuts.push(i + round)
      cuts.sort((a, b) => a - b)
      const ours = decodeAll(patched(), bytes, cuts)
      const theirs = decodeAll(libraryDecoder(), bytes, cuts)
      expect(ours.map((m) => Buffer.from(m).toString('hex'))).toEqual(
        theirs.map((m) => Buffer.from(m).toString('hex')),
      )
      // Empty messages are dropped, as the library drops them.
      expect(ours.length).toBe(lengths.filter((n) => n > 0).length)
    }
  })

  it('fails a connection buffering past the limit, as the library does', () => {
    const bytes = wire([500])
    expect(() => [...patched(100).decode(bytes.subarray(0, 200))]).toThrow(/Buffer length limit exceeded/)
    expect(() => [...libraryDecoder(100).decode(bytes.subarray(0, 200))]).toThrow(
      /Buffer length limit exceeded/,
    )
  })
  it('matches the library on random messages, cuts, inputs and buffer limits: output, error and what stays buffered', () => {
    let seed = 11
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    const outcome = (decoder: LengthPrefixedDecoder, chunks: Array<Uint8Array | Uint8ArrayList>) => {
      const out: string[] = []
      try {
        for (const c of chunks)
          for (const m of decoder.decode(c)) out.push(Buffer.from(m.subarray()).toString('hex'))
      } catch (err) {
        out.push(`error ${(err as Error).name}: ${(err as Error).message}`)
      }
      out.push(`buffered ${(decoder as unknown as { buffer: Uint8ArrayList }).buffer.byteLength}`)
      return out
    }
    for (let round = 0; round < 1000; round++) {
      const lengths = Array.from({ length: random(6) }, () => [0, 1, 2, 65535, random(40)][random(5)]!)
      let bytes = wire(lengths)
      // A lone first byte of a length prefix left at the end.
      if (random(3) === 0) bytes = Buffer.concat([bytes, Uint8Array.of(random(256))])
      const chunks: Uint8Array[] = []
      for (let at = 0; at < bytes.length; ) {
        const k = 1 + random(Math.min(bytes.length - at, random(3) === 0 ? 3 : 70_000))
        chunks.push(bytes.subarray(at, at + k))
        at += k
      }
      const limit = [16 * 1024 * 1024, 100, 70_000][random(3)]!
      const asLists = random(2) === 0
      const input = () => (asLists ? chunks.map((c) => new Uint8ArrayList(c)) : chunks)
      expect(outcome(patched(limit), input())).toEqual(outcome(libraryDecoder(limit), input()))
    }
  })
})

describe('Noise decoder limits, against the library at their boundaries', () => {
  const pair = (maxBufferSize: number, maxDataLength: number) => {
    const make = () =>
      new LengthPrefixedDecoder({
        lengthDecoder: (data: Uint8ArrayList | Uint8Array) => {
          if (data.length < 2) throw RangeError('Could not decode int16BE')
          return data instanceof Uint8Array ? (data[0]! << 8) | data[1]! : data.getUint16(0)
        },
        maxBufferSize,
        maxDataLength,
        encodingLength: () => 2,
      })
    const ours = make()
    patchNoiseDecoder({ connection: { decoder: ours } })
    return [make(), ours] as const
  }
  const outcome = (decoder: LengthPrefixedDecoder, bytes: Uint8Array): string => {
    try {
      return `ok ${[...decoder.decode(bytes)].map((m) => m.byteLength).join(',')}`
    } catch (err) {
      return (err as Error).name
    }
  }

  it('buffers exactly maxBufferSize bytes and throws as the library does past it', () => {
    for (const size of [99, 100, 101, 102]) {
      const bytes = wire([size - 2])
      const [library, ours] = pair(100, 1000)
      expect(outcome(ours, bytes), String(size)).toBe(outcome(library, bytes))
    }
    expect(outcome(pair(100, 1000)[1], wire([98]))).toBe('ok 98')
    expect(outcome(pair(100, 1000)[1], wire([99]))).not.toMatch(/^ok/)
  })

  it('takes a message of exactly maxDataLength bytes and refuses a longer one as the library does', () => {
    for (const length of [49, 50, 51]) {
      const bytes = wire([length]).subarray(0, 2)
      const [library, ours] = pair(1000, 50)
      expect(outcome(ours, bytes), String(length)).toBe(outcome(library, bytes))
    }
    expect(outcome(pair(1000, 50)[1], wire([50]))).toBe('ok 50')
    expect(outcome(pair(1000, 50)[1], wire([51]).subarray(0, 2))).toBe('InvalidMessageLengthError')
  })

  it('leaves a decoder whose lengths are not 2-byte prefixes as it is', () => {
    const varintDecoder = new LengthPrefixedDecoder()
    const before = varintDecoder.decode
    patchNoiseDecoder({ connection: { decoder: varintDecoder } })
    expect(varintDecoder.decode).toBe(before)
  })
})
