import type {
  ComponentLogger,
  Connection,
  Logger,
  Startable,
  Stream,
  StreamCloseEvent,
  StreamHandler,
  StreamHandlerOptions,
} from '@libp2p/interface'
import { storageErrorCode } from '../core/errors.js'
import { deadline } from '../engine/deadline.js'
import type { StorageEngine } from '../engine/engine.js'
import type { NodeService } from '../engine/node-service.js'
import { NodeBusyError, NotEligibleError, StreamEndedError, StreamTimeoutError } from './errors.js'
import { FrameStream } from './frame-stream.js'
import { wireErrorOf } from './frames.js'
import { type AdmittedListing, ListingAdmission } from './listing-admission.js'
import { ProofAdmission } from './proof-admission.js'
import {
  DATA_PROTOCOLS,
  type Limits,
  PROTOCOLS,
  type ProtocolName,
  PUBLIC_PROTOCOLS,
  PUSH_KEEPALIVE_IDLE_FACTOR,
  REFUSAL_DRAIN_MS,
  RPC_SERVER_IDLE_FACTOR,
  resolveLimits,
} from './protocols.js'
import { ReadAdmission } from './read-admission.js'
import { MAX_INBOUND_RPC_CHANNELS } from './rpc-messages.js'
import { PUBLIC_HANDLERS } from './serve-public.js'
import { type Exchange, REPLICA_HANDLERS, type SnapshotSource } from './serve-replica.js'
import { sourceOf } from './source-address.js'
import { stallLimit, WriteAdmission } from './write-admission.js'

/** The part of libp2p's registrar the service uses (a libp2p node itself fits). */
export interface Registrar {
  handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
  unhandle(protocol: string): Promise<void>
}

export interface StorageProtocolComponents {
  registrar: Registrar
  logger?: ComponentLogger
}

export interface StorageProtocolInit {
  /** Serves the node-to-node `replica/*` protocols. */
  node: NodeService
  /** Serves the public protocols when given: any node can coordinate. */
  engine?: StorageEngine
  /**
   * Whether a peer may use the node-to-node protocols (the epoch's eligible set). Defaults to
   * allowing every peer: the composition root must pass the membership check in production.
   */
  isEligiblePeer?: (peerId: string) => boolean
  /**
   * The epoch snapshots served to eligible peers (replica/rpc `snapshot`), so a node that lacks
   * earlier epochs can fetch them. Without, every such request is answered NOT_FOUND.
   */
  snapshots?: SnapshotSource
  limits?: Partial<Limits>
  /**
   * Called for every exchange this node ends with an ERROR frame, with the code sent: refusals
   * before the engine ran (bad frames, NODE_BUSY, NOT_ELIGIBLE, ...) and streams that broke. What the
   * engine answers as a Failure is counted by the engine's caller, not here.
   */
  onExchangeFailed?: (protocol: ProtocolName, code: string) => void
}

export interface StorageProtocolService extends Startable {
  /** The protocol ids this service registers. */
  readonly protocols: readonly string[]
  readonly limits: Readonly<Limits>
  /** Public exchanges holding a slot now, by kind, and how many yielded one (docs/protocol.md 4.3). */
  slotsInUse(): SlotUse
  /**
   * One of this node's listing slots for a listing asked outside libp2p (the operator API's
   * /v1/objects): the cap bounds what the node's listings hold in memory however they are asked.
   * NODE_BUSY when none is free, or when `source` holds its share already.
   */
  admitListing(signal: AbortSignal, source: string): AdmittedListing
}

/** Public slots in use, and the exchanges that gave theirs to a client from another address. */
export interface SlotUse {
  reads: number
  writes: number
  proofs: number
  listings: number
  readYields: number
  writeYields: number
  proofYields: number
  listingYields: number
}

/** js-libp2p service factory: `services: { storage: storageProtocol({ node, engine }) }`. */
export function storageProtocol(
  init: StorageProtocolInit,
): (components: StorageProtocolComponents) => StorageProtocolService {
  return (components) => new StorageProtocol(components, init)
}

class StorageProtocol implements StorageProtocolService {
  readonly limits: Readonly<Limits>
  readonly protocols: readonly string[]
  private readonly registrar: Registrar
  private readonly log: Logger | undefined
  private readonly node: NodeService
  private readonly engine: StorageEngine | undefined
  private readonly isEligiblePeer: (peerId: string) => boolean
  private readonly snapshots: SnapshotSource | undefined
  private readonly onExchangeFailed: ((protocol: ProtocolName, code: string) => void) | undefined
  private readonly names: ProtocolName[]
  /** Shared by every connection: the cap on concurrent public writes is per node. */
  private readonly writes: WriteAdmission
  /** Likewise for public reads (`maxConcurrentReads`, and the read's minimum rate). */
  private readonly reads: ReadAdmission
  /** Likewise for public listings (`maxConcurrentListings`). */
  private readonly listings: ListingAdmission
  /** Likewise for public `get_proof` (`maxConcurrentProofs`, and the read's minimum rate). */
  private readonly proofs: ProofAdmission
  /** Open replica/push and replica/fetch exchanges, by protocol and peer (`maxDataStreamsPerPeer`). */
  private readonly peerStreams = new Map<string, number>()
  /** Public streams opened and still waiting for their request (awaitRequest). */
  private awaitingRequest = 0
  private started = false
  /** Aborted by stop(): long-lived replica channels stop taking requests and end. */
  private draining = new AbortController()

  constructor(components: StorageProtocolComponents, init: StorageProtocolInit) {
    this.registrar = components.registrar
    this.log = components.logger?.forComponent('qfs:storage-protocol')
    this.node = init.node
    this.engine = init.engine
    this.isEligiblePeer = init.isEligiblePeer ?? (() => true)
    this.snapshots = init.snapshots
    this.onExchangeFailed = init.onExchangeFailed
    this.limits = Object.freeze(resolveLimits(init.limits))
    this.writes = new WriteAdmission({ ...this.limits, stall: stallLimit(this.limits.idleTimeoutMs) })
    this.reads = new ReadAdmission(this.limits)
    this.listings = new ListingAdmission(this.limits)
    this.proofs = new ProofAdmission(this.limits)
    this.names = (Object.keys(PROTOCOLS) as ProtocolName[]).filter(
      (name) => !PUBLIC_PROTOCOLS.has(name) || this.engine !== undefined,
    )
    this.protocols = this.names.map((name) => PROTOCOLS[name])
  }

  readonly [Symbol.toStringTag] = 'qfs:storage-protocol'

  slotsInUse(): SlotUse {
    return {
      reads: this.reads.activeReads,
      writes: this.writes.activeWrites,
      proofs: this.proofs.activeProofs,
      listings: this.listings.activeListings,
      readYields: this.reads.yields,
      writeYields: this.writes.yields,
      proofYields: this.proofs.yields,
      listingYields: this.listings.yields,
    }
  }

  admitListing(signal: AbortSignal, source: string): AdmittedListing {
    return this.listings.admit(signal, source)
  }

  isStarted(): boolean {
    return this.started
  }

  async start(): Promise<void> {
    for (const name of this.names) {
      await this.registrar.handle(
        PROTOCOLS[name],
        (stream, connection) => this.serve(name, stream, connection),
        {
          maxInboundStreams:
            name === 'replicaRpc'
              ? MAX_INBOUND_RPC_CHANNELS
              : DATA_PROTOCOLS.has(name)
                ? this.limits.maxInboundDataStreams
                : this.limits.maxInboundSmallStreams,
          maxOutboundStreams: this.limits.maxOutboundStreams,
        },
      )
    }
    if (this.draining.signal.aborted) this.draining = new AbortController()
    this.started = true
  }

  async stop(): Promise<void> {
    for (const name of this.names) await this.registrar.unhandle(PROTOCOLS[name])
    // Unhandling refuses new streams only; open replica channels would go on taking requests.
    this.draining.abort()
    this.started = false
  }

  /**
   * A public stream's request must arrive within the request timeout of the stream's opening, and at
   * most `maxStreamsAwaitingRequest` streams wait for theirs at once (NODE_BUSY beyond): the idle
   * timeout alone let a client hold a stream for good by sending its request a byte every 20 s.
   */
  private async awaitRequest(ex: Exchange): Promise<void> {
    if (this.awaitingRequest >= this.limits.maxStreamsAwaitingRequest) {
      throw new NodeBusyError(`${this.awaitingRequest} public streams are already waiting for their request`)
    }
    this.awaitingRequest++
    const ms = this.limits.requestTimeoutMs
    const bounded = deadline(ex.signal, ms)
    try {
      await ex.fs.awaitFrame(bounded.signal)
    } catch (err) {
      if (ex.signal.aborted || !bounded.signal.aborted) throw err
      throw new StreamTimeoutError(`no request within ${ms} ms of the stream's opening`)
    } finally {
      bounded.clear()
      this.awaitingRequest--
    }
  }

  /** Runs one exchange; every failure becomes an ERROR frame (then the stream ends), never a rejection. */
  async serve(name: ProtocolName, stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    const outsider = !PUBLIC_PROTOCOLS.has(name) && !this.isEligiblePeer(peer)
    const fs = new FrameStream(stream, {
      maxFrameBytes: this.limits.maxFrameBytes,
      // The only JSON a server reads is the request (docs/protocol.md section 3).
      maxJsonFrameBytes: this.limits.maxRequestFrameBytes,
      // An outsider is refused before anything is read; it gets a moment to read the refusal, not a
      // replica channel's long idle wait, so it cannot hold the stream (a slot of 4 per connection).
      idleMs: outsider
        ? Math.min(this.limits.idleTimeoutMs, REFUSAL_DRAIN_MS)
        : name === 'replicaRpc'
          ? this.limits.idleTimeoutMs * RPC_SERVER_IDLE_FACTOR
          : this.limits.idleTimeoutMs,
      peerErrorsEnd: true,
      acceptKeepAlive: name === 'replicaPush',
      keepAliveLimitMs: this.limits.idleTimeoutMs * PUSH_KEEPALIVE_IDLE_FACTOR,
    })
    const failed = new AbortController()
    const onClose = (evt: StreamCloseEvent) => {
      if (evt.error !== undefined)
        failed.abort(new StreamEndedError('the peer reset the stream', { cause: evt.error }))
    }
    stream.addEventListener('close', onClose)
    // Data streams are bounded by their idle timeout between frames; small ones by one deadline.
    // (A deadline of our own, cleared below: see engine/deadline.ts for why not AbortSignal.any.)
    const unbounded = DATA_PROTOCOLS.has(name) || PUBLIC_PROTOCOLS.has(name)
    const bounded = unbounded ? undefined : deadline(failed.signal, this.limits.requestTimeoutMs)
    const signal = bounded?.signal ?? failed.signal
    const ex: Exchange = {
      fs,
      signal,
      draining: this.draining.signal,
      requestTimeoutMs: this.limits.requestTimeoutMs,
      stillEligible: () => this.isEligiblePeer(peer),
      source: sourceOf(connection.remoteAddr),
      snapshots: this.snapshots,
    }
    const counted = name === 'replicaPush' || name === 'replicaFetch' ? `${name} ${peer}` : undefined
    let holds = false
    // True from a public stream's opening until its handler accepted the request (framing and shape).
    let awaitingRequest = false
    ex.onRequest = () => {
      awaitingRequest = false
    }
    try {
      if (!PUBLIC_PROTOCOLS.has(name)) {
        if (outsider) throw new NotEligibleError(`peer ${peer} is not in the eligible set`)
        if (counted !== undefined) {
          const open = this.peerStreams.get(counted) ?? 0
          if (open >= this.limits.maxDataStreamsPerPeer)
            throw new NodeBusyError(`peer ${peer} already has ${open} ${PROTOCOLS[name]} streams open here`)
          this.peerStreams.set(counted, open + 1)
          holds = true
        }
        await REPLICA_HANDLERS[name]!(this.node, ex)
      } else {
        awaitingRequest = true
        await this.awaitRequest(ex)
        await PUBLIC_HANDLERS[name]!(this.engine!, ex, {
          maxContentBytes: this.limits.maxContentBytes,
          writes: this.writes,
          reads: this.reads,
          listings: this.listings,
          proofs: this.proofs,
        })
      }
      // A peer still sending after our answer (a write refused early) is read and dropped until it stops.
      await fs.finish(signal)
    } catch (err) {
      this.log?.error('%s from %p failed - %e', PROTOCOLS[name], connection.remotePeer, err)
      const wire = wireErrorOf(err, storageErrorCode)
      this.onExchangeFailed?.(name, wire.code)
      // A stream refused before its request was accepted (one that never sent one, or sent a malformed
      // one) is not given the idle timeout to read why: such streams cost their sender two bytes,
      // would stay open that long after their refusal and pile up faster than they end (each holds
      // heap). They get a moment; one refused because too many already wait is reset at once, since it
      // comes while the node is being flooded.
      const drainMs = !awaitingRequest
        ? undefined
        : wire.code === 'NODE_BUSY'
          ? 0
          : Math.min(this.limits.idleTimeoutMs, REFUSAL_DRAIN_MS)
      await fs.fail(wire, drainMs)
    } finally {
      if (holds) {
        const left = this.peerStreams.get(counted!)! - 1
        if (left === 0) this.peerStreams.delete(counted!)
        else this.peerStreams.set(counted!, left)
      }
      bounded?.clear()
      stream.removeEventListener('close', onClose)
    }
  }
}
