import { describe, expect, it } from 'vitest'
import { storageErrorCode } from '../../src/core/errors.js'
import { IntegrityMismatchError } from '../../src/engine/errors.js'
import { exchangeFailure, openExchange } from '../../src/net/dial.js'
import { FrameInvalidError, StreamTimeoutError } from '../../src/net/errors.js'
import { encodeErrorFrame, FrameDecoder, frameBytes, wireErrorOf } from '../../src/net/frames.js'
import { DEFAULT_LIMITS } from '../../src/net/protocols.js'

/** What libp2p and the OS put in their messages: addresses and paths that must not reach a peer. */
const LOW_LEVEL = 'connect ECONNREFUSED 10.1.2.3:4001 (/var/lib/qfs/node/peer-store)'

describe('errors that cross the wire carry no library or OS text', () => {
  it('a failed dial keeps the raw error as cause only', async () => {
    const raw = new Error(LOW_LEVEL)
    const dialer = { dialProtocol: async () => Promise.reject(raw) }
    const err = await openExchange(
      dialer,
      [],
      '/qfs/storage/read/1.0.0',
      DEFAULT_LIMITS,
      undefined,
      'node-x',
    ).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: 'NODE_UNAVAILABLE' })
    expect((err as Error).message).toBe('cannot open /qfs/storage/read/1.0.0 to node-x')
    expect((err as Error).cause).toBe(raw)
  })

  it('a malformed or broken exchange names only our code', () => {
    const raw = new Error(LOW_LEVEL)
    const plain = exchangeFailure(raw, 'node-x')
    expect(plain).toMatchObject({
      code: 'NODE_UNAVAILABLE',
      message: 'node-x did not answer properly (INTERNAL)',
    })
    expect(plain.cause).toBe(raw)
    const typed = exchangeFailure(new FrameInvalidError(LOW_LEVEL), 'node-x')
    expect(typed.message).toBe('node-x did not answer properly (FRAME_INVALID)')
  })

  it('ERROR frames follow the engine rule: bounded own messages, fixed phrases for internal ones', () => {
    const roundTrip = (err: unknown) => {
      const frame = frameBytes(encodeErrorFrame(wireErrorOf(err, storageErrorCode)))
      const [decoded] = new FrameDecoder().push(frame)
      if (decoded?.type !== 'error') throw new Error('expected an ERROR frame')
      return decoded.error
    }
    expect(roundTrip(new Error(LOW_LEVEL))).toEqual({
      code: 'INTERNAL',
      error_code: 'SE_ERR_INTERNAL',
      error_detail: 'internal error',
    })
    const timeout = roundTrip(new StreamTimeoutError(`waited on ${LOW_LEVEL}`))
    expect(timeout.code).toBe('TIMEOUT')
    expect(timeout.error_detail).not.toContain('10.1.2.3')
    const long = roundTrip(new IntegrityMismatchError('y'.repeat(3000)))
    expect(long).toMatchObject({ code: 'INTEGRITY_MISMATCH', error_code: 'SE_ERR_INTEGRITY_MISMATCH' })
    expect(long.error_detail).toBe('y'.repeat(512))
  })
})
