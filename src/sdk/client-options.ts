import type { Multiaddr } from '@multiformats/multiaddr'
import type { ProtocolParams } from '../core/params.js'
import type { CallOptions } from '../engine/api.js'
import type { Dialer } from '../net/dial.js'
import { DEFAULT_LIMITS } from '../net/protocols.js'
import { timeoutOption } from './call-input.js'
import type { CallLimits } from './call-slots.js'
import type { TransferProgress } from './verified-read.js'

export interface QfsClientTimeouts {
  /** Opening a stream: dialling and protocol negotiation (default 10 s). */
  requestMs: number
  /**
   * Longest wait for each frame of an answer, whole (a header, a proof, a summary, a block of a
   * read), and for the node to take the bytes of a write (default 30 s).
   */
  idleMs: number
  /**
   * Longest wait for one of the client's own call slots when `maxConcurrent` calls of the kind are
   * already running (default 90 s); past it the call answers NODE_BUSY.
   */
  queueMs: number
}

export interface QfsClientInit {
  /** The coordinating node: a multiaddr that ends in `/p2p/<peer id>`. */
  node: string | Multiaddr
  /** A libp2p node to dial from; without one the client starts its own (no listen address) and owns it. */
  libp2p?: Dialer
  timeouts?: Partial<QfsClientTimeouts>
  /** The governed parameters records are checked against (default DEFAULT_PARAMS). */
  params?: ProtocolParams
  /**
   * Calls of each kind run on the node at once (default DEFAULT_CALL_LIMITS, the node's own default
   * caps); the rest wait in order, up to `timeouts.queueMs`.
   */
  maxConcurrent?: Partial<CallLimits>
}

export interface ReadCallOptions extends CallOptions {
  /** Bytes received and fed to the checks so far (verified only once the read ends), for progress bars. */
  onProgress?: (p: TransferProgress) => void
}

export interface GetContentOptions extends ReadCallOptions {
  /**
   * Largest content `getContent` holds in memory (default MAX_BUFFERED_CONTENT_BYTES); a version
   * announcing more is refused before any byte is read (`CONTENT_TOO_LARGE`). Stream larger ones
   * with `readContent`.
   */
  maxBytes?: number
}

/**
 * `getContent`'s default bound. The size a read announces is the serving node's word until the last
 * byte verifies, so without a bound a node could make the client buffer until it runs out of memory.
 */
export const MAX_BUFFERED_CONTENT_BYTES = 1024 * 1024 * 1024

/**
 * Default `timeouts.queueMs`: longer than a node's default read grace (60 s, `read_min_deadline_ms`),
 * after which it drops reads whose client stopped taking the bytes, so a call waiting behind reads
 * left unconsumed gets their slots rather than NODE_BUSY a moment before (a load test saw 61 s).
 */
export const DEFAULT_QUEUE_MS = 90_000

/** The client's timeouts: each given one checked (INVALID_INPUT), the rest the defaults. */
export function resolveTimeouts(given: Partial<QfsClientTimeouts> | undefined): QfsClientTimeouts {
  return {
    requestMs: timeoutOption(given?.requestMs, 'requestMs', DEFAULT_LIMITS.requestTimeoutMs),
    idleMs: timeoutOption(given?.idleMs, 'idleMs', DEFAULT_LIMITS.idleTimeoutMs),
    queueMs: timeoutOption(given?.queueMs, 'queueMs', DEFAULT_QUEUE_MS),
  }
}
