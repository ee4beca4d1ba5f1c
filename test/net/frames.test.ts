import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { QfsError } from '../../src/core/errors.js'
import {
  dataBytes,
  encodeDataFrame,
  encodeEndFrame,
  encodeErrorFrame,
  encodeJsonFrame,
  encodeKeepAliveFrame,
  encodeVarint,
  FRAME_DATA,
  FRAME_END,
  FRAME_ERROR,
  FRAME_JSON,
  FRAME_KEEPALIVE,
  type Frame,
  FrameDecoder,
  frameBytes,
  MAX_DATA_BYTES,
  MAX_FRAME_BYTES,
  MAX_REQUEST_JSON_FRAME_BYTES,
  wireErrorOf,
} from '../../src/net/frames.js'
import { qfsErrorCode as codeOf } from '../helpers/qfs-error-code.js'

const SEED = 0x5eed_f4a3
const FRAME_CODES = ['FRAME_INVALID', 'FRAME_TOO_LARGE', 'UNKNOWN_MESSAGE']

/** Independent oracle: LEB128 over bigint, written from the unsigned-varint spec. */
function leb128(n: number): Uint8Array {
  const out: number[] = []
  let v = BigInt(n)
  do {
    const low = Number(v & 0x7fn)
    v >>= 7n
    out.push(v > 0n ? low | 0x80 : low)
  } while (v > 0n)
  return Uint8Array.from(out)
}

function raw(type: number, body: Uint8Array): Uint8Array {
  return Uint8Array.from([...leb128(body.length + 1), type, ...body])
}

function decodeAll(bytes: Uint8Array, cuts: number[] = []): Frame[] {
  const decoder = new FrameDecoder()
  const frames: Frame[] = []
  let start = 0
  for (const cut of [...cuts.filter((c) => c > 0 && c < bytes.length)].sort((a, b) => a - b)) {
    frames.push(...decoder.push(bytes.subarray(start, cut)))
    start = cut
  }
  frames.push(...decoder.push(bytes.subarray(start)))
  expect(decoder.buffered).toBe(0)
  return frames
}

const utf8 = (s: string) => new TextEncoder().encode(s)

describe('frame codec', () => {
  it('encodes the length prefix as minimal LEB128 (checked against a bigint oracle)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (n) => {
        expect(encodeVarint(n)).toEqual(leb128(n))
      }),
      { seed: SEED, numRuns: 500 },
    )
  })

  it('lays out each frame type byte-exactly', () => {
    expect(frameBytes(encodeEndFrame())).toEqual(Uint8Array.of(0x01, FRAME_END))
    expect(frameBytes(encodeDataFrame(Uint8Array.of(7, 8)))).toEqual(Uint8Array.of(0x03, FRAME_DATA, 7, 8))
    expect(frameBytes(encodeJsonFrame({ b: 1, a: 'x' }))).toEqual(raw(FRAME_JSON, utf8('{"a":"x","b":1}')))
    const error = { code: 'NOT_FOUND', error_code: 'SE_ERR_NOT_FOUND', error_detail: 'gone' } as const
    expect(frameBytes(encodeErrorFrame(error))).toEqual(
      raw(FRAME_ERROR, utf8('{"code":"NOT_FOUND","error_code":"SE_ERR_NOT_FOUND","error_detail":"gone"}')),
    )
    // A full 1 MiB DATA frame has a 3-byte prefix: 1048577 = 0x100001.
    const full = frameBytes(encodeDataFrame(new Uint8Array(MAX_DATA_BYTES)))
    expect(Array.from(full.subarray(0, 4))).toEqual([0x81, 0x80, 0x40, FRAME_DATA])
  })

  it('keeps a DATA body uncopied on the way out', () => {
    const body = new Uint8Array(100)
    const parts = encodeDataFrame(body)
    expect(parts[1]).toBe(body)
  })

  it('round-trips any sequence of frames, however the bytes are cut', () => {
    const json = fc.dictionary(
      fc.string({ maxLength: 8 }),
      fc.oneof(
        fc.string(),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(fc.nat(), { maxLength: 4 }),
      ),
      { maxKeys: 6 },
    )
    const frame = fc.oneof(
      json.map((value) => ({ kind: 'json' as const, value })),
      fc.uint8Array({ minLength: 1, maxLength: 3000 }).map((bytes) => ({ kind: 'data' as const, bytes })),
      fc.constant({ kind: 'end' as const }),
      fc.string({ maxLength: 40 }).map((detail) => ({ kind: 'error' as const, detail })),
    )
    fc.assert(
      fc.property(
        fc.array(frame, { maxLength: 8 }),
        fc.array(fc.nat({ max: 30_000 }), { maxLength: 6 }),
        (list, cuts) => {
          const parts = list.flatMap((f) => {
            if (f.kind === 'json') return encodeJsonFrame(f.value)
            if (f.kind === 'data') return encodeDataFrame(f.bytes)
            if (f.kind === 'end') return encodeEndFrame()
            return encodeErrorFrame({
              code: 'VERSION_CONFLICT',
              error_code: 'SE_ERR_INVALID_VERSION',
              error_detail: f.detail,
            })
          })
          const decoded = decodeAll(frameBytes(parts), cuts)
          expect(decoded.length).toBe(list.length)
          decoded.forEach((d, i) => {
            const f = list[i]!
            expect(d.type).toBe(f.kind)
            if (d.type === 'json' && f.kind === 'json')
              expect(d.value).toEqual(JSON.parse(JSON.stringify(f.value)))
            if (d.type === 'data' && f.kind === 'data') expect(dataBytes(d)).toEqual(f.bytes)
            if (d.type === 'error' && f.kind === 'error') expect(d.error.error_detail).toBe(f.detail)
          })
        },
      ),
      { seed: SEED, numRuns: 200 },
    )
  })

  it('round-trips a full 1 MiB DATA frame', () => {
    const body = new Uint8Array(MAX_DATA_BYTES).map((_, i) => i % 251)
    const [frame] = decodeAll(frameBytes(encodeDataFrame(body)), [1, 2, 70_000, 500_000])
    expect(frame?.type).toBe('data')
    const data = frame as Extract<Frame, { type: 'data' }>
    // The body (from byte 4) arrived in three pieces and is handed out as three views, not copied.
    expect(data.chunks).toHaveLength(3)
    expect(Buffer.from(body).equals(dataBytes(data))).toBe(true)
  })

  it('refuses to encode what it could not decode', () => {
    expect(codeOf(() => encodeDataFrame(new Uint8Array(0)))).toBe('FRAME_INVALID')
    expect(codeOf(() => encodeDataFrame(new Uint8Array(MAX_DATA_BYTES + 1)))).toBe('FRAME_TOO_LARGE')
    expect(codeOf(() => encodeJsonFrame({ big: 'x'.repeat(MAX_FRAME_BYTES) }))).toBe('FRAME_TOO_LARGE')
    expect(codeOf(() => encodeJsonFrame({ bad: undefined }))).toBe('INVALID_INPUT')
  })
})

describe('hostile frames', () => {
  const cases: Array<[string, Uint8Array, string]> = [
    ['an empty frame', Uint8Array.of(0x00), 'FRAME_INVALID'],
    ['a non-minimal length', Uint8Array.of(0x81, 0x00, FRAME_END), 'FRAME_INVALID'],
    ['an unknown frame type', raw(0x7f, new Uint8Array(0)), 'UNKNOWN_MESSAGE'],
    ['type 0x00', raw(0x00, Uint8Array.of(1)), 'UNKNOWN_MESSAGE'],
    ['an END frame with a body', raw(FRAME_END, Uint8Array.of(1)), 'FRAME_INVALID'],
    ['an empty DATA frame', raw(FRAME_DATA, new Uint8Array(0)), 'FRAME_INVALID'],
    ['JSON that is not UTF-8', raw(FRAME_JSON, Uint8Array.of(0x7b, 0xff, 0x7d)), 'FRAME_INVALID'],
    ['JSON that does not parse', raw(FRAME_JSON, utf8('{"a":')), 'FRAME_INVALID'],
    ['a JSON array', raw(FRAME_JSON, utf8('[1]')), 'FRAME_INVALID'],
    ['a JSON string', raw(FRAME_JSON, utf8('"x"')), 'FRAME_INVALID'],
    ['JSON with white space', raw(FRAME_JSON, utf8('{"a": 1}')), 'FRAME_INVALID'],
    ['JSON with unsorted keys', raw(FRAME_JSON, utf8('{"b":1,"a":2}')), 'FRAME_INVALID'],
    ['JSON with a duplicate key', raw(FRAME_JSON, utf8('{"a":1,"a":1}')), 'FRAME_INVALID'],
    ['JSON with a lone surrogate', raw(FRAME_JSON, utf8('{"a":"\\ud800"}')), 'FRAME_INVALID'],
    ['JSON with a non-canonical number', raw(FRAME_JSON, utf8('{"a":1.0}')), 'FRAME_INVALID'],
    ['JSON with a BOM', raw(FRAME_JSON, Uint8Array.of(0xef, 0xbb, 0xbf, ...utf8('{}'))), 'FRAME_INVALID'],
    [
      'an ERROR body with an unknown SE code',
      raw(FRAME_ERROR, utf8('{"code":"X","error_code":"SE_ERR_NOPE","error_detail":""}')),
      'FRAME_INVALID',
    ],
    [
      'an ERROR body with a lower-case code',
      raw(FRAME_ERROR, utf8('{"code":"x","error_code":"SE_ERR_INTERNAL","error_detail":""}')),
      'FRAME_INVALID',
    ],
    [
      'an ERROR body with an extra key',
      raw(FRAME_ERROR, utf8('{"code":"X","error_code":"SE_ERR_INTERNAL","error_detail":"","more":1}')),
      'FRAME_INVALID',
    ],
  ]
  for (const [name, bytes, code] of cases) {
    it(`answers ${name} with ${code}`, () => {
      expect(codeOf(() => new FrameDecoder().push(bytes))).toBe(code)
    })
  }

  it('refuses an oversized frame from its prefix alone, before any body arrives', () => {
    const decoder = new FrameDecoder()
    expect(codeOf(() => decoder.push(leb128(MAX_FRAME_BYTES + 1)))).toBe('FRAME_TOO_LARGE')
    expect(codeOf(() => new FrameDecoder(100).push(leb128(101)))).toBe('FRAME_TOO_LARGE')
    expect(codeOf(() => new FrameDecoder().push(Uint8Array.of(0x80, 0x80, 0x80, 0x80)))).toBe(
      'FRAME_TOO_LARGE',
    )
    // The largest legal frame is accepted (it just waits for its body).
    expect(new FrameDecoder().push(leb128(MAX_FRAME_BYTES))).toEqual([])
  })

  it('reports frames before a bad one, then stays failed', () => {
    const decoder = new FrameDecoder()
    const good = frameBytes(encodeEndFrame())
    const frames = decoder.push(Uint8Array.of(...good, 0x00))
    expect(frames.map((f) => f.type)).toEqual(['end'])
    expect(decoder.error).toBeInstanceOf(QfsError)
    expect(codeOf(() => decoder.push(good))).toBe('FRAME_INVALID')
  })

  it('answers random bytes with frames or a typed framing error, never anything else', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.array(fc.nat({ max: 64 }), { maxLength: 4 }),
        (bytes, cuts) => {
          const decoder = new FrameDecoder(1024)
          let start = 0
          try {
            for (const cut of [...cuts, bytes.length]
              .filter((c) => c >= start && c <= bytes.length)
              .sort((a, b) => a - b)) {
              decoder.push(bytes.subarray(start, cut))
              start = cut
            }
          } catch (err) {
            expect(err).toBeInstanceOf(QfsError)
            expect(FRAME_CODES).toContain((err as QfsError).code)
          }
        },
      ),
      { seed: SEED, numRuns: 2000 },
    )
  })

  it('answers mutated valid frames with frames or a typed framing error', () => {
    const valid = frameBytes([
      ...encodeJsonFrame({ object_id: 'ab'.repeat(32), version: 3 }),
      ...encodeDataFrame(Uint8Array.of(1, 2, 3, 4)),
      ...encodeErrorFrame({ code: 'NOT_FOUND', error_code: 'SE_ERR_NOT_FOUND', error_detail: 'no' }),
      ...encodeEndFrame(),
    ])
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ at: fc.nat({ max: valid.length - 1 }), value: fc.integer({ min: 0, max: 255 }) }),
          {
            minLength: 1,
            maxLength: 4,
          },
        ),
        (mutations) => {
          const bytes = valid.slice()
          for (const m of mutations) bytes[m.at] = m.value
          try {
            for (const f of new FrameDecoder().push(bytes))
              expect(['json', 'data', 'end', 'error']).toContain(f.type)
          } catch (err) {
            expect(err).toBeInstanceOf(QfsError)
            expect(FRAME_CODES).toContain((err as QfsError).code)
          }
        },
      ),
      { seed: SEED, numRuns: 2000 },
    )
  })
})

describe('KEEPALIVE frames (replica/push only)', () => {
  const keepAlive = frameBytes(encodeKeepAliveFrame())
  const end = frameBytes(encodeEndFrame())
  const data = frameBytes(encodeDataFrame(Uint8Array.of(7, 8, 9)))

  it('are two bytes on the wire: length 1, type 0x05', () => {
    expect([...keepAlive]).toEqual([0x01, FRAME_KEEPALIVE])
  })

  it('are dropped by a decoder that accepts them, wherever they fall and however the bytes are cut', () => {
    const stream = Uint8Array.from([...data, ...keepAlive, ...keepAlive, ...data, ...keepAlive, ...end])
    for (let cut = 0; cut <= stream.length; cut++) {
      const decoder = new FrameDecoder(MAX_FRAME_BYTES, MAX_FRAME_BYTES, true)
      const frames = [...decoder.push(stream.subarray(0, cut)), ...decoder.push(stream.subarray(cut))]
      expect(frames.map((f) => f.type)).toEqual(['data', 'data', 'end'])
      expect(decoder.buffered).toBe(0)
    }
  })

  it('are an unknown frame type to every other decoder and before the first frame, and carry no body', () => {
    // After a good frame the decoder hands that frame over and keeps the error for the next push.
    const other = new FrameDecoder()
    expect(other.push(Uint8Array.from([...data, ...keepAlive])).map((f) => f.type)).toEqual(['data'])
    expect((other.error as QfsError | undefined)?.code).toBe('UNKNOWN_MESSAGE')
    expect(codeOf(() => new FrameDecoder(MAX_FRAME_BYTES, MAX_FRAME_BYTES, true).push(keepAlive))).toBe(
      'UNKNOWN_MESSAGE',
    )
    const accepting = new FrameDecoder(MAX_FRAME_BYTES, MAX_FRAME_BYTES, true)
    accepting.push(Uint8Array.from([...data, ...raw(FRAME_KEEPALIVE, Uint8Array.of(0))]))
    expect((accepting.error as QfsError | undefined)?.code).toBe('FRAME_INVALID')
  })
})

/** Limits of docs/protocol.md "Frames", at their boundaries, with sizes written out from the document. */
describe('documented frame limits at their boundaries', () => {
  const json = (text: string) => raw(FRAME_JSON, utf8(text))
  const decodeCode = (bytes: Uint8Array, decoder = new FrameDecoder()) =>
    codeOf(() => {
      decoder.push(bytes)
      if (decoder.error !== undefined) throw decoder.error
    })

  it('encodes a JSON frame of exactly 1_048_577 bytes and refuses one byte more', () => {
    const frame = (fill: number) => encodeJsonFrame({ a: 'x'.repeat(fill) })
    // {"a":""} is 8 bytes; with the type byte, 1_048_577 bytes leave 1_048_568 for the string.
    expect(frameBytes(frame(1_048_568)).length).toBe(3 + 1_048_577)
    expect(codeOf(() => frame(1_048_569))).toBe('FRAME_TOO_LARGE')
  })

  it('limits a server-side JSON request frame to exactly 262_145 bytes', () => {
    const request = (frameSize: number) => json(`{"a":"${'x'.repeat(frameSize - 1 - 8)}"}`)
    const server = () => new FrameDecoder(MAX_FRAME_BYTES, MAX_REQUEST_JSON_FRAME_BYTES)
    expect(decodeCode(request(262_145), server())).toBe('NO_ERROR')
    expect(decodeCode(request(262_146), server())).toBe('FRAME_TOO_LARGE')
  })

  it('counts depth, not brackets: siblings and brackets after an escaped quote do not nest', () => {
    const siblings = Array.from({ length: 40 }, (_, i) => `"k${String(i).padStart(2, '0')}":[]`)
    expect(decodeCode(json(`{${siblings.join(',')}}`))).toBe('NO_ERROR')
    expect(decodeCode(json(`{"a":"\\"${'['.repeat(40)}"}`))).toBe('NO_ERROR')
    expect(decodeCode(json(`{"a":"\\\\","b":${'['.repeat(32)}${']'.repeat(32)}}`))).toBe('FRAME_INVALID')
  })

  it('refuses JSON that is not valid UTF-8, even where a replacement character would be canonical', () => {
    const body = Uint8Array.from([...utf8('{"a":"'), 0xff, ...utf8('"}')])
    expect(decodeCode(raw(FRAME_JSON, body))).toBe('FRAME_INVALID')
    const truncated = Uint8Array.from([...utf8('{"a":"'), 0xe2, 0x82, ...utf8('"}')])
    expect(decodeCode(raw(FRAME_JSON, truncated))).toBe('FRAME_INVALID')
  })

  it('holds ERROR bodies to code 1..64 of [A-Z][A-Z0-9_]* and error_detail of at most 1024', () => {
    const error = (code: string, detail = 'x') =>
      raw(FRAME_ERROR, utf8(JSON.stringify({ code, error_code: 'SE_ERR_NOT_FOUND', error_detail: detail })))
    expect(decodeCode(error('A'.repeat(64)))).toBe('NO_ERROR')
    expect(decodeCode(error('A'.repeat(65)))).toBe('FRAME_INVALID')
    expect(decodeCode(error('A_9'))).toBe('NO_ERROR')
    for (const bad of ['', '9ABC', '_ABC', 'ABC-D', 'aBC'])
      expect(decodeCode(error(bad)), bad).toBe('FRAME_INVALID')
    expect(decodeCode(error('X', 'd'.repeat(1024)))).toBe('NO_ERROR')
    expect(decodeCode(error('X', 'd'.repeat(1025)))).toBe('FRAME_INVALID')
    const detail = (error_detail: unknown) =>
      raw(FRAME_ERROR, utf8(JSON.stringify({ code: 'X', error_code: 'SE_ERR_NOT_FOUND', error_detail })))
    for (const bad of [5, true, [], {}]) expect(decodeCode(detail(bad)), String(bad)).toBe('FRAME_INVALID')
  })

  it('never sends a code longer than 64 characters: it becomes INTERNAL', () => {
    const storage = () => 'SE_ERR_INTERNAL' as const
    expect(wireErrorOf(new QfsError('C'.repeat(64), 'm'), storage).code).toBe('C'.repeat(64))
    expect(wireErrorOf(new QfsError('C'.repeat(65), 'm'), storage).code).toBe('INTERNAL')
  })

  it('refuses a negative varint and a decoder limit above 1_048_577', () => {
    expect(codeOf(() => encodeVarint(-1))).toBe('FRAME_INVALID')
    expect(codeOf(() => new FrameDecoder(1_048_578))).toBe('FRAME_INVALID')
    expect(codeOf(() => new FrameDecoder(1_048_577))).toBe('NO_ERROR')
  })
})
