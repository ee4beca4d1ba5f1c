import { setMaxListeners } from 'node:events'
import type { Multiaddr } from '@multiformats/multiaddr'
import { InvalidInputError } from '../core/errors.js'
import type { ProtocolParams } from '../core/params.js'
import { NodeUnavailableError } from '../engine/errors.js'
import type { EngineFailure } from '../engine/responses.js'
import type { StorageClient } from '../net/client.js'
import { NodeBusyError, RemoteError } from '../net/errors.js'
import { type CallLimits, CallSlots, linkedSignal } from './call-slots.js'
import { ClientClosedError } from './errors.js'
import { toFailure } from './failures.js'
import { Settling, type SettlingKind } from './settling.js'

/** A call under way: its signal (the caller's, or the client closing) and the end that frees its slot. */
export interface Call {
  signal: AbortSignal
  /**
   * A read whose node is done: frees its slot and lets go of the client's closing signal (what is
   * left to consume is already here, and a read never consumed must not stay reachable from the
   * client), keeping the caller's signal; idempotent.
   */
  nodeDone: () => void
  /** Frees the call's slot and lets go of its signals; idempotent. */
  end: () => void
}

export type CallKind = keyof CallLimits

/**
 * What a QfsClient's operations share (client-write.ts, client-read.ts, client-queries.ts): the node
 * they go to, the wire client that reaches it, the calls' slots and the parameters answers are
 * checked against.
 */
export interface ClientParts {
  readonly node: Multiaddr
  readonly storage: StorageClient
  readonly calls: ClientCalls
  readonly params: ProtocolParams
}

/**
 * The life of a QfsClient's calls: a slot of their kind before they dial, one signal that ends them
 * when the caller aborts or the client closes, and the answers of calls that cannot start or that
 * the closing cut off.
 */
export class ClientCalls {
  private readonly slots: Record<CallKind, CallSlots>
  /** Aborted by `close()`: calls under way end, and their failures answer CLIENT_CLOSED. */
  private readonly closing = new AbortController()
  private isClosed = false
  /** Proofs and listings this client cut short, which the node may still be ending (settling.ts). */
  private readonly settling: Settling

  /** `now`, a monotonic clock in ms, times the settling window (tests move it). */
  constructor(limits: CallLimits, queueMs: number, now?: () => number) {
    this.settling = new Settling(now)
    // Every call under way listens to the closing signal. Where an AbortSignal keeps Node's default
    // limit of 10 listeners (Node 20; 22 sets none), a burst would print a "possible memory leak"
    // warning although each call lets go when it ends.
    setMaxListeners(Number.POSITIVE_INFINITY, this.closing.signal)
    const slots = (kind: CallKind) => new CallSlots(kind, limits[kind], queueMs)
    this.slots = {
      writes: slots('writes'),
      reads: slots('reads'),
      proofs: slots('proofs'),
      listings: slots('listings'),
    }
  }

  get closed(): boolean {
    return this.isClosed
  }

  /** Calls of each kind running, and calls waiting for a slot. */
  get load(): Record<CallKind, { running: number; waiting: number }> {
    return {
      writes: this.slots.writes.load,
      reads: this.slots.reads.load,
      proofs: this.slots.proofs.load,
      listings: this.slots.listings.load,
    }
  }

  /** Refuses the calls waiting for a slot and ends those under way, all with CLIENT_CLOSED. */
  close(): void {
    if (this.isClosed) return
    this.isClosed = true
    const reason = new ClientClosedError()
    for (const slots of Object.values(this.slots)) slots.refuseWaiting(reason)
    this.closing.abort(reason)
  }

  /**
   * The start of a call that dials: the answer of one that cannot start (refusedAtOnce), or a slot of
   * its kind once one is free, with the signal that ends it when the caller aborts or the client closes.
   */
  async begin(
    kind: CallKind,
    options: { signal?: unknown } | undefined,
  ): Promise<{ call: Call } | { answer: EngineFailure }> {
    const refused = this.refusedAtOnce(options)
    if (refused !== undefined) return { answer: refused }
    const linked = linkedSignal([options?.signal as AbortSignal | undefined, this.closing.signal])
    let release: () => void
    try {
      release = await this.slots[kind].acquire(linked.signal)
    } catch (err) {
      linked.dispose()
      // The caller's abort reads as for a call under way (docs/sdk.md "Deadlines"); busy and closed stand.
      const why =
        err instanceof NodeBusyError || err instanceof ClientClosedError
          ? err
          : new NodeUnavailableError('the call was abandoned before it started', { cause: err })
      return { answer: this.failureOf(why, null) }
    }
    let ended = false
    const end = () => {
      if (ended) return
      ended = true
      release()
      linked.dispose()
    }
    const nodeDone = () => {
      release()
      linked.detach(this.closing.signal)
    }
    return { call: { signal: linked.signal, nodeDone, end } }
  }

  /**
   * A proof or listing's answer from the node: `ask` once, and again while the node answers NODE_BUSY
   * within a moment of this client cutting one of that kind short (settling.ts). A call cut short
   * (`ask` threw: the client reset its stream) starts that moment; one that never reached the node
   * (`ask` begun with its signal aborted) does not.
   */
  async asked<T extends { ok: boolean; code?: string }>(
    kind: SettlingKind,
    call: Call,
    ask: () => Promise<T>,
  ): Promise<T> {
    return this.settling.answer(kind, call.signal, async () => {
      // An attempt begun once the call's signal had aborted (its pause ended by the caller's abort or
      // the client closing) fails before the node starts a call: it cuts nothing the node must end.
      const underWay = !call.signal.aborted
      try {
        return await ask()
      } catch (err) {
        if (underWay) this.settling.cut(kind)
        throw err
      }
    })
  }

  /**
   * A call's failure as the caller sees it. Once the client is closing, a call it cut off (the
   * transport failing under it) answers CLIENT_CLOSED: no node failed. A node's verdict, and a write
   * whose outcome is unknown, stand.
   */
  failureOf(err: unknown, storageEventId: string | null): EngineFailure {
    const answer = toFailure(err, storageEventId)
    if (err instanceof RemoteError) return answer
    if (this.isClosed && (answer.code === 'NODE_UNAVAILABLE' || answer.code === ClientClosedError.code))
      return this.closedAnswer()!
    return answer
  }

  /**
   * The answer of a call that cannot start: the client is closed (CLIENT_CLOSED), or its options'
   * `signal` is no AbortSignal (INVALID_INPUT, before anything is dialled).
   */
  refusedAtOnce(options: { signal?: unknown } | undefined): EngineFailure | undefined {
    const signal = options?.signal
    if (signal !== undefined && !(signal instanceof AbortSignal))
      return toFailure(new InvalidInputError('options.signal must be an AbortSignal'), null)
    return this.closedAnswer()
  }

  /** The answer of any call once the client is closed. */
  private closedAnswer(): EngineFailure | undefined {
    if (!this.isClosed) return undefined
    const err = new ClientClosedError()
    return {
      ok: false,
      error_code: 'SE_ERR_INTERNAL',
      error_detail: err.message,
      code: err.code,
      storage_event_id: null,
    }
  }
}
