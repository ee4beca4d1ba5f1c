import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { createQfsLibp2p } from '../net/libp2p-node.js'
import {
  ACK_BYTES,
  FrameSplitter,
  frame,
  LATER_ROUND_BYTES,
  PUT_ANSWER_BYTES,
  PUT_PROTOCOL,
  ROUND_PROTOCOL,
} from './round-frames.js'

/**
 * The processes of bench:floor's small-put floor (`rounds-floor.ts`): the shape of a small put with
 * none of its work. A `coordinator` takes a put on a fresh stream, runs its rounds (each one frame
 * to every `peer` over a long-lived stream, as on the replica channel, and the wait for all their
 * acknowledgements) and answers; a `peer` acknowledges every frame it is sent. No store, no log, no
 * hashing, no signature: only the libp2p stack (the daemon's own configuration) and the scheduling
 * of six processes.
 *
 * Run as a child process with the role as its argument; sends its multiaddr over IPC, takes the
 * peers' multiaddrs (coordinator: answers `{ connected: true }` once it has dialled them all) and
 * `{ report: true }` (both: answers how many puts or frames it served) over IPC, stops when the
 * parent disconnects.
 */
const MAX_FRAME = 1024 * 1024

/** Calls `handle` with every chunk `stream` receives (libp2p may hand over a Uint8ArrayList). */
function onMessage(stream: Stream, handle: (chunk: Uint8Array) => void): void {
  stream.addEventListener('message', (evt) => {
    const data = evt.data
    handle(data instanceof Uint8Array ? data : data.subarray())
  })
}

/** Counts a stream's bytes, so a round can wait for each peer's acknowledgement by its size. */
class ByteCounter {
  private got = 0
  private waiting: { until: number; resolve: () => void }[] = []

  add(n: number): void {
    this.got += n
    this.waiting = this.waiting.filter((w) => {
      if (this.got < w.until) return true
      w.resolve()
      return false
    })
  }

  /** Resolves once `bytes` more than have arrived so far have arrived. */
  next(bytes: number): Promise<void> {
    const until = this.got + bytes
    return new Promise((resolve) => this.waiting.push({ until, resolve }))
  }
}

async function servePeer(): Promise<{ served: () => number }> {
  let served = 0
  const node = await startNode()
  await node.handle(ROUND_PROTOCOL, (stream: Stream) => {
    const frames = new FrameSplitter(MAX_FRAME)
    onMessage(stream, (chunk) => {
      for (const _ of frames.push(chunk)) {
        served++
        stream.send(new Uint8Array(ACK_BYTES))
      }
    })
  })
  announce(node.getMultiaddrs()[0]!.toString())
  stopOnDisconnect(node)
  return { served: () => served }
}

async function serveCoordinator(): Promise<{ served: () => number }> {
  let served = 0
  const node = await startNode()
  type Peer = { stream: Stream; acks: ByteCounter }
  let peers: Peer[] = []
  // One round: a frame to every peer, then every peer's acknowledgement. The first round carries
  // the object (as the stage does), later ones a record-sized frame. Puts come one at a time, so
  // the acknowledgements of one round are the next ACK_BYTES of each peer's stream.
  const round = async (payloadBytes: number) => {
    const acked = peers.map((p) => p.acks.next(ACK_BYTES))
    for (const p of peers) p.stream.send(frame(payloadBytes))
    await Promise.all(acked)
  }
  await node.handle(PUT_PROTOCOL, (stream: Stream) => {
    const frames = new FrameSplitter(MAX_FRAME)
    onMessage(stream, (chunk) => {
      for (const put of frames.push(chunk)) {
        // A put names its rounds in its first byte; the rest is the object.
        const rounds = put[0]!
        void (async () => {
          for (let r = 0; r < rounds; r++) await round(r === 0 ? put.length - 1 : LATER_ROUND_BYTES)
          served++
          stream.send(new Uint8Array(PUT_ANSWER_BYTES))
          await stream.close()
        })().catch((err) => stream.abort(err))
      }
    })
  })
  // The parent sends the peers' addresses once it has this one (a message sent before the child
  // listens for it would be lost), and waits for `connected`.
  const addresses = new Promise<string[]>((resolve) =>
    process.once('message', (m: { peers: string[] }) => resolve(m.peers)),
  )
  announce(node.getMultiaddrs()[0]!.toString())
  stopOnDisconnect(node)
  peers = await Promise.all(
    (await addresses).map(async (address) => {
      const stream = await node.dialProtocol(multiaddr(address), ROUND_PROTOCOL)
      const acks = new ByteCounter()
      onMessage(stream, (chunk) => acks.add(chunk.length))
      return { stream, acks }
    }),
  )
  process.send!({ connected: true })
  return { served: () => served }
}

async function startNode() {
  return createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
}

function announce(address: string): void {
  process.send!({ multiaddr: address })
}

function stopOnDisconnect(node: { stop(): Promise<void> | void }): void {
  process.once('disconnect', () => {
    Promise.resolve(node.stop()).finally(() => process.exit(0))
  })
}

/** Answers `{ report: true }` with the frames or puts served so far. */
function answerReports(served: () => number): void {
  process.on('message', (m: { report?: boolean }) => {
    if (m.report === true) process.send!({ served: served() })
  })
}

async function main(): Promise<void> {
  const role = process.argv[2]
  if (role === 'peer') answerReports((await servePeer()).served)
  else if (role === 'coordinator') answerReports((await serveCoordinator()).served)
  else throw new Error(`unknown role ${role}`)
}

// Only as a forked child process (bench:floor), never when imported.
if (process.send !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) await main()
