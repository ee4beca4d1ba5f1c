import type { Socket } from 'node:net'
import type { Transport, Upgrader } from '@libp2p/interface'
import { type TCPComponents, type TCPOptions, tcp } from '@libp2p/tcp'
import type { Uint8ArrayList } from 'uint8arraylist'

/**
 * `@libp2p/tcp` with one socket write per send instead of one per buffer.
 *
 * Every Noise message reaches the TCP connection as two buffers, its 2-byte length and its
 * ciphertext, and `@libp2p/tcp` 11 hands each buffer to `socket.write` on its own: with TCP_NODELAY
 * that is a system call and a segment per buffer, half of them 2 bytes long, and the peer wakes for
 * each. Measured on this project's workloads, socket writes were the largest single cost of a node
 * (a fifth of a coordinator's CPU in a bulk write, more in small requests). Here the buffers of one
 * send are corked and flushed together (one `writev`), which changes nothing on the wire but the
 * segmentation. Writes stay corked to the end of the current tick, so the frames one step of a
 * protocol sends (a request and its FIN, an answer, window updates) leave together. Backpressure is
 * unchanged: every byte is accepted, and `canSendMore` is what the socket says after the last one.
 *
 * The wrapper reaches into the connection the transport builds (its `socket` and `sendData`); if a
 * later `@libp2p/tcp` changes that shape the connection is left as the library made it.
 */
export function coalescingTcp(init?: TCPOptions): (components: TCPComponents) => Transport {
  const factory = tcp(init)
  return (components) => {
    const transport = factory(components)
    const dial = transport.dial.bind(transport)
    const createListener = transport.createListener.bind(transport)
    transport.dial = (ma, options) => dial(ma, { ...options, upgrader: coalescing(options.upgrader) })
    transport.createListener = (options) =>
      createListener({ ...options, upgrader: coalescing(options.upgrader) })
    return transport
  }
}

interface PatchableConnection {
  socket?: Socket
  sendData?: (data: Uint8ArrayList) => { sentBytes: number; canSendMore: boolean }
}

function coalescing(upgrader: Upgrader): Upgrader {
  const wrapped: Upgrader = Object.create(upgrader)
  wrapped.upgradeOutbound = (maConn, opts) => upgrader.upgradeOutbound(coalesceSends(maConn), opts)
  wrapped.upgradeInbound = (maConn, opts) => upgrader.upgradeInbound(coalesceSends(maConn), opts)
  return wrapped
}

/**
 * Has the connection's sends corked and flushed once per tick; a connection of another shape (no
 * `sendData`, no socket, or a socket that cannot cork) is returned untouched. Exported for tests.
 */
export function coalesceSends<T>(maConn: T): T {
  const conn = maConn as PatchableConnection
  const socket = conn.socket
  if (typeof conn.sendData !== 'function' || socket === undefined || typeof socket.cork !== 'function')
    return maConn
  let corked = false
  const flush = () => {
    corked = false
    socket.uncork()
  }
  conn.sendData = (data: Uint8ArrayList) => {
    // Corked until the current tick ends: the frames of one step (a request and its FIN, an answer
    // and the window update before it) leave in one write.
    if (!corked) {
      corked = true
      socket.cork()
      process.nextTick(flush)
    }
    let canSendMore = true
    for (const buf of data) canSendMore = socket.write(buf)
    return { sentBytes: data.byteLength, canSendMore }
  }
  return maConn
}
