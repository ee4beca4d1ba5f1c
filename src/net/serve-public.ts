import type { StorageEngine } from '../engine/engine.js'
import type { Admitted } from './admission.js'
import { ReadTooSlowError } from './errors.js'
import { unexpected } from './frame-reader.js'
import type { FrameStream } from './frame-stream.js'
import { encodeDataFrame, encodeEndFrame, encodeJsonFrame, type JsonObject } from './frames.js'
import type { ListingAdmission } from './listing-admission.js'
import {
  parseListObjectsRequest,
  parseProofRequest,
  parseReadRequest,
  parseWriteRequest,
  type ReadRequest,
} from './messages-public.js'
import type { ProofAdmission } from './proof-admission.js'
import type { ProtocolName } from './protocols.js'
import type { AdmittedRead, ReadAdmission } from './read-admission.js'
import type { Exchange } from './serve-replica.js'
import type { AdmittedWrite, WriteAdmission } from './write-admission.js'

/** What the public handlers share across exchanges: this node's read and write policy. */
export interface PublicPolicy {
  /** Largest `content_size` a write may announce. */
  maxContentBytes: number
  /** Slots and deadlines of the writes this node coordinates. */
  writes: WriteAdmission
  /** Slots and deadlines of the reads this node serves. */
  reads: ReadAdmission
  /** Slots of the listings this node coordinates. */
  listings: ListingAdmission
  /** Slots and deadlines of the proofs this node serves. */
  proofs: ProofAdmission
}

export type PublicHandler = (engine: StorageEngine, ex: Exchange, policy: PublicPolicy) => Promise<void>

/**
 * The public protocols (docs/protocol.md "Public protocols"), served by this node's StorageEngine as
 * coordinator. The engine's own answers travel as JSON, `{ok: false}` failures included, because they
 * carry the storage_event_id of the logged call; ERROR frames are for what fails before the engine.
 */
export const PUBLIC_HANDLERS: Partial<Record<ProtocolName, PublicHandler>> = {
  write: serveWrite,
  read: serveRead,
  getProof: serveProof,
  listObjects: serveListing,
}

/** Content up to this size is read whole before anything is sent (serveOneRead). */
const WHOLE_READ_BYTES = 64 * 1024

/** The request frame, parsed; the exchange is told it was accepted (service.ts drains refusals briefly). */
async function readRequest<T>(ex: Exchange, parse: (value: unknown) => T): Promise<T> {
  const request = parse(await ex.fs.readJson(ex.signal))
  ex.onRequest?.()
  return request
}

/**
 * The request, then the content as DATA frames and END, streamed through the engine as it arrives.
 * A write takes one of the node's write slots (NODE_BUSY, an ERROR frame, when none is free) and must
 * deliver its content by its deadline, else the engine fails it with WRITE_TOO_SLOW and takes back
 * what it staged (docs/protocol.md 4.2).
 */
async function serveWrite(engine: StorageEngine, ex: Exchange, policy: PublicPolicy): Promise<void> {
  const { fs, signal, source } = ex
  const r = await readRequest(ex, (value) => parseWriteRequest(value, policy.maxContentBytes))
  const write = policy.writes.admit(signal, source)
  try {
    const options = { signal: write.signal, epoch: r.epoch, timestampTick: r.timestamp_tick }
    let answer: unknown
    if (r.kind === 'DELETE_MARKER') {
      write.beginWait()
      const frame = await fs.read(write.signal)
      write.endWait(0)
      if (frame.type !== 'end') throw unexpected(frame, 'END (a delete marker has no content)')
      answer = await engine.deleteContent(r.object_id, r.version, r.metadata, options)
    } else {
      answer = await engine.putContent(
        r.object_id,
        r.version,
        { size: r.content_size, chunks: dataUntilEnd(fs, write) },
        r.metadata,
        options,
      )
    }
    await fs.writeJson(answer as JsonObject, signal)
  } finally {
    write.release()
  }
}

/**
 * The DATA bodies of a stream up to its END frame; anything else ends the content with an error.
 * Only the time spent here, waiting for the client, counts against the write's minimum rate.
 */
async function* dataUntilEnd(fs: FrameStream, write: AdmittedWrite): AsyncGenerator<Uint8Array> {
  for (;;) {
    write.beginWait()
    const frame = await fs.read(write.signal)
    if (frame.type === 'end') {
      write.endWait(0)
      return
    }
    if (frame.type !== 'data') throw unexpected(frame, 'DATA or END')
    let bytes = 0
    for (const chunk of frame.chunks) bytes += chunk.length
    write.endWait(bytes)
    yield* frame.chunks
  }
}

/**
 * The request, then the answer, then one summary per frame and END (a page never has to fit one
 * frame), under one of the node's listing slots (NODE_BUSY when none is free), held until the page
 * is sent: the nodes' answers stay in memory until then. Its client must take the page as a read's
 * content (docs/protocol.md 4.5).
 */
async function serveListing(engine: StorageEngine, ex: Exchange, policy: PublicPolicy): Promise<void> {
  const r = await readRequest(ex, parseListObjectsRequest)
  ex.fs.holdInput()
  const listing = policy.listings.admit(ex.signal, ex.source)
  const send = (parts: Uint8Array[]) => sendTaken(ex, listing, parts)
  try {
    const answer = await engine.listObjects(r.filters ?? {}, { signal: listing.signal, epoch: r.epoch })
    if (!answer.ok) {
      await send(encodeJsonFrame(answer as unknown as JsonObject))
      return
    }
    await send(
      encodeJsonFrame({
        ok: true,
        next_cursor: answer.next_cursor,
        storage_event_id: answer.storage_event_id,
      }),
    )
    for (const summary of answer.objects) await send(encodeJsonFrame(summary as unknown as JsonObject))
    await send(encodeEndFrame())
  } finally {
    listing.release()
  }
}

/**
 * The request, then one JSON answer, under one of the node's proof slots (NODE_BUSY when none is
 * free). The answer carries a block, so its client must take it as a read's (docs/protocol.md 4.4).
 */
async function serveProof(engine: StorageEngine, ex: Exchange, policy: PublicPolicy): Promise<void> {
  const r = await readRequest(ex, parseProofRequest)
  // Nothing more is read from the client: bytes it sends anyway wait in the window.
  ex.fs.holdInput()
  const proof = policy.proofs.admit(ex.signal, ex.source)
  try {
    const answer = await engine.getStorageProof(r.object_id, r.version, r.shard_id, {
      signal: proof.signal,
      epoch: r.epoch,
      leafIndex: r.leaf_index,
    })
    await sendTaken(ex, proof, encodeJsonFrame(answer as unknown as JsonObject))
  } finally {
    proof.release()
  }
}

/**
 * Sends `parts` timed by `admitted`: the node waits on its client to take them. A send that fails
 * resets the stream at once: a client that did not take an answer would not take an ERROR frame
 * either, and the answer's send buffers go with the slot rather than after another idle timeout
 * (and the closing wait after it).
 */
async function sendTaken(ex: Exchange, admitted: Admitted, parts: Uint8Array[]): Promise<void> {
  let bytes = 0
  for (const part of parts) bytes += part.length
  admitted.beginWait()
  try {
    await ex.fs.write(parts, admitted.signal)
  } catch (err) {
    const why = admitted.signal.aborted ? admitted.signal.reason : err
    ex.fs.abort(why as Error)
    throw why
  }
  admitted.endWait(bytes)
}

/**
 * Header (with the record, so the client can verify), the verified content as DATA frames, and the
 * trailer. A failure after the header (a replica set that cannot serve, a block that does not verify)
 * becomes an ERROR frame in place of the trailer; the whole against hash_commit is the client's check. The read takes its slot once its request is in: a
 * client that opens streams and says nothing holds streams, which its connections bound, but no
 * slot another reader needs. Then its client must keep taking the bytes (docs/protocol.md 4.3), else
 * the read fails READ_TOO_SLOW and its slot is free at once.
 */
async function serveRead(engine: StorageEngine, ex: Exchange, policy: PublicPolicy): Promise<void> {
  const r = await readRequest(ex, parseReadRequest)
  // Nothing more is read from the client until the end: bytes it sends anyway wait in the window.
  ex.fs.holdInput()
  const read = policy.reads.admit(ex.signal, ex.source)
  try {
    await serveOneRead(engine, ex.fs, read, r)
  } catch (err) {
    // A client that takes no bytes would not take an ERROR frame either: the stream is reset now, so
    // its send buffers go with the slot rather than after another idle timeout.
    if (read.signal.reason instanceof ReadTooSlowError) {
      ex.fs.abort(read.signal.reason)
      // Whatever the read was doing when it fell behind or yielded (fetching from a replica, or
      // writing to the client), that is why it ended, and what the node counts.
      throw read.signal.reason
    }
    throw err
  } finally {
    read.release()
  }
}

/**
 * One read under its admission: the engine runs under the admitted signal (so READ_TOO_SLOW stops its
 * fetches), and each write to the client counts its wait, if the stream makes it wait, against the
 * read's minimum rate. A write the stream takes at once counts (almost) nothing.
 */
async function serveOneRead(
  engine: StorageEngine,
  fs: FrameStream,
  read: AdmittedRead,
  r: ReadRequest,
): Promise<void> {
  // The engine's signal is the admitted one, and a send that fails aborts it too, with why the read
  // ended (the admission's reason when it has one: READ_TOO_SLOW, a reset; else the send's error).
  // Content left before its end under an aborted signal is a failed read, counted for that reason
  // (daemon/instrument.ts), not one whose consumer had all it wanted.
  const ended = new AbortController()
  const follow = () => ended.abort(read.signal.reason)
  if (read.signal.aborted) follow()
  else read.signal.addEventListener('abort', follow, { once: true })
  const { signal } = ended
  const send = async (bytes: number, write: () => Promise<void>): Promise<void> => {
    read.beginWait()
    try {
      await write()
    } catch (err) {
      ended.abort(read.signal.aborted ? read.signal.reason : err)
      throw err
    }
    read.endWait(bytes)
  }
  try {
    // The client checks hash_commit over every byte (docs/protocol.md 4.3); the blocks this node sends
    // are checked against the record's roots on their way in, which is what its failover needs.
    const opened = await engine.readContent(r.object_id, r.version, { signal, checkCommit: false })
    if (!('content' in opened)) {
      await send(0, () => fs.writeJson(opened as unknown as JsonObject, signal))
      return
    }
    const header: JsonObject = {
      ok: true,
      object_id: opened.object_id,
      version: opened.version,
      kind: opened.kind,
      hash_commit: opened.hash_commit,
      content_size: opened.content_size,
      metadata: opened.metadata as unknown as JsonObject,
      record: opened.record as unknown as JsonObject,
      storage_event_id: opened.storage_event_id,
    }
    const trailer = () => ({ ok: true, proofs: opened.proofs as unknown as JsonObject[] })
    if (opened.content_size <= WHOLE_READ_BYTES) {
      // Small content goes out whole: header, DATA frames and trailer in one send, one muxer frame
      // and Noise message instead of one per block (a 4 KiB object has four), the same frames.
      const parts = encodeJsonFrame(header)
      const blocks = opened.content[Symbol.asyncIterator]()
      let bytes = 0
      try {
        try {
          // To its last byte, not its end: the content ends (and counts as served, daemon/
          // instrument.ts) only once the send went through; a send that fails leaves it early.
          // The first step is always taken: it starts the content, which lists its shards in
          // `proofs` (an empty content ends there, before the send).
          let step = await blocks.next()
          while (step.done !== true) {
            parts.push(...encodeDataFrame(step.value))
            bytes += step.value.length
            if (bytes >= opened.content_size) break
            step = await blocks.next()
          }
        } catch (err) {
          // What verified goes out before the ERROR frame that takes the trailer's place, as below.
          await send(bytes, () => fs.write(parts, signal))
          throw err
        }
        parts.push(...encodeJsonFrame(trailer()))
        await send(bytes, () => fs.write(parts, signal))
        await blocks.next()
      } finally {
        await blocks.return?.()
      }
      return
    }
    // Past the first blocks (asked for with the record, engine/prefetch.ts), the content's fetches
    // start as it is read: a header the client never takes opens no more.
    await send(0, () => fs.writeJson(header, signal))
    // Leaving the loop early (a failed write) closes the content, which stops its replica fetches.
    for await (const block of opened.content) await send(block.length, () => fs.writeData(block, signal))
    await send(0, () => fs.writeJson(trailer(), signal))
  } finally {
    read.signal.removeEventListener('abort', follow)
  }
}
