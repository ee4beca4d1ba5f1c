import { type YamuxMuxerInit, yamux } from '@chainsafe/libp2p-yamux'
import { StreamState } from '@chainsafe/libp2p-yamux/stream'
import type { StreamMuxerFactory } from '@libp2p/interface'

/**
 * `@chainsafe/libp2p-yamux` whose streams grant receive window the way the yamux specification's
 * reference implementation (go-yamux) does: once half of the window has been used, not after every
 * frame.
 *
 * The library (8.x) answers every DATA frame a stream receives with a WINDOW_UPDATE for what that
 * frame used. On the replica channel, and on a public read, that is one more Noise message, one more
 * system call and one more wake-up of the peer for every request and every answer, each carrying
 * nothing the peer needs: its window is 256 KiB and a request is a few hundred bytes. Measured on a
 * 4 KiB read through a 5-node devnet: the five nodes made about 18 socket writes per read, 10 once
 * updates wait for half the window.
 * Granting at half the window changes only when the peer learns of it: the peer never has less
 * than half a window to send into, the window still grows (up to its maximum) when half of it is
 * used within four round trips, and a paused stream (backpressure) still grants nothing. The
 * acknowledgement a new inbound stream owes its opener (and the SYN of one opened here) still goes
 * out with the first update, as before.
 *
 * The wrapper reaches into the muxer the library builds (`_newStream`) and its streams
 * (`sendWindowUpdate`, `recvWindow`, `recvWindowCapacity`, `state`); if a later version changes that
 * shape, streams are left as the library made them.
 */
export function lazyWindowYamux(init?: YamuxMuxerInit): () => StreamMuxerFactory {
  const factory = yamux(init)
  return () => {
    const muxers = factory()
    const create = muxers.createStreamMuxer.bind(muxers)
    muxers.createStreamMuxer = (maConn) => patchMuxer(create(maConn))
    return muxers
  }
}

interface PatchableMuxer {
  _newStream?: (...args: unknown[]) => unknown
}

export interface PatchableStream {
  state?: unknown
  recvWindow?: unknown
  recvWindowCapacity?: unknown
  sendWindowUpdate?: () => void
}

/** Has the muxer's new streams patched (`patchStream`); a muxer of another shape is left alone. Exported for tests. */
export function patchMuxer<T>(muxer: T): T {
  const m = muxer as PatchableMuxer
  const newStream = m._newStream
  if (typeof newStream !== 'function') return muxer
  m._newStream = function (this: unknown, ...args: unknown[]) {
    const stream = newStream.apply(this, args)
    patchStream(stream as PatchableStream)
    return stream
  }
  return muxer
}

/**
 * Has the stream grant window at half the window used; a stream of another shape is left as the
 * library made it. Exported for tests.
 */
export function patchStream(stream: PatchableStream): void {
  const update = stream.sendWindowUpdate
  if (
    typeof update !== 'function' ||
    typeof stream.recvWindow !== 'number' ||
    typeof stream.recvWindowCapacity !== 'number'
  )
    return
  stream.sendWindowUpdate = function (this: PatchableStream) {
    // Only streams with no flag to send and not paused (the library's own cases are left to it).
    const quiet = this.state === StreamState.Established || this.state === StreamState.SYNSent
    if (quiet && (this.recvWindowCapacity as number) * 2 > (this.recvWindow as number)) return
    update.call(this)
  }
}
