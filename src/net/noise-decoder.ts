import { noise } from '@chainsafe/libp2p-noise'
import { InvalidParametersError } from '@libp2p/interface'
import { InvalidMessageLengthError } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'

/**
 * `@chainsafe/libp2p-noise` whose connections split incoming bytes into Noise messages without
 * throwing.
 *
 * The library hands every chunk a connection reads to a length-prefixed decoder whose loop asks for
 * the next 2-byte length until it fails: each chunk ends with a `RangeError` thrown and caught (an
 * error object and its stack trace, then an unwind), because the chunk was used up. Measured on
 * 4 KiB reads through a 5-node devnet, about 2% of the nodes' CPU went into those exceptions. Here
 * the loop stops when fewer than two bytes are left; messages, their order, the buffer limit and
 * the error for a decoder buffering past it are the library's.
 *
 * The wrapper reaches into the connection the library builds (its `decoder`); if a later version
 * changes that shape, the connection is left as the library made it.
 */
type NoiseFactory = ReturnType<typeof noise>

export function quietNoise(init?: Parameters<typeof noise>[0]): NoiseFactory {
  const factory = noise(init)
  return (components) => {
    const encrypter = factory(components)
    const secureInbound = encrypter.secureInbound.bind(encrypter)
    const secureOutbound = encrypter.secureOutbound.bind(encrypter)
    encrypter.secureInbound = (async (connection, options) =>
      patchNoiseDecoder(await secureInbound(connection, options))) as typeof encrypter.secureInbound
    encrypter.secureOutbound = (async (connection, options) =>
      patchNoiseDecoder(await secureOutbound(connection, options))) as typeof encrypter.secureOutbound
    return encrypter
  }
}

/** The decoder the library gives each encrypted connection (@libp2p/utils LengthPrefixedDecoder). */
interface PatchableDecoder {
  buffer?: Uint8ArrayList
  maxBufferSize?: number
  maxDataLength?: number
  encodingLength?: (length: number) => number
  decode?: (buf: Uint8Array | Uint8ArrayList) => Generator<Uint8ArrayList>
}

/** Gives the connection of a secured result (`{connection}`) the decoder above; exported for tests. */
export function patchNoiseDecoder<T>(secured: T): T {
  const decoder = (secured as { connection?: { decoder?: PatchableDecoder } }).connection?.decoder
  if (
    decoder === undefined ||
    typeof decoder.decode !== 'function' ||
    typeof decoder.buffer?.getUint16 !== 'function' ||
    typeof decoder.maxBufferSize !== 'number' ||
    typeof decoder.maxDataLength !== 'number' ||
    decoder.encodingLength?.(0) !== 2
  )
    return secured
  const buffer = decoder.buffer
  const maxBufferSize = decoder.maxBufferSize
  const maxDataLength = decoder.maxDataLength
  decoder.decode = function* (buf) {
    buffer.append(buf)
    if (buffer.byteLength > maxBufferSize) {
      throw new InvalidParametersError(`Buffer length limit exceeded - ${buffer.byteLength}/${maxBufferSize}`)
    }
    // Each message is its 2-byte big-endian length, then that many bytes.
    while (buffer.byteLength >= 2) {
      const length = buffer.getUint16(0)
      if (length > maxDataLength) throw new InvalidMessageLengthError('Invalid message length')
      if (buffer.byteLength < 2 + length) break
      const message = buffer.sublist(2, 2 + length)
      buffer.consume(2 + length)
      if (message.byteLength > 0) yield message
    }
  }
  return secured
}
