import type { StorageEngine } from '../engine/engine.js'
import { NodeBusyError } from './errors.js'
import type { FrameStream } from './frame-stream.js'
import { unexpected } from './frame-stream.js'
import type { JsonObject } from './frames.js'
import {
  parseListObjectsRequest,
  parseProofRequest,
  parseReadRequest,
  parseWriteRequest,
  type ReadRequest,
} from './messages-public.js'
import type { ProtocolName } from './protocols.js'
import type { Exchange } from './serve-replica.js'
import type { AdmittedWrite, WriteAdmission } from './write-admission.js'

/** What the public handlers share across exchanges: this node's write policy. */
export interface PublicPolicy {
  /** Largest `content_size` a write may announce. */
  maxContentBytes: number
  /** Slots and deadlines of the writes this node coordinates. */
  writes: WriteAdmission
  /** Slots of the reads this node serves. */
  reads: ReadSlots
}

/** The public reads a node serves at once (Limits.maxConcurrentReads). */
export class ReadSlots {
  private active = 0
  constructor(private readonly cap: number) {}

  /** Runs `serve` in a slot, or throws NODE_BUSY at once when all are taken. */
  async run<T>(serve: () => Promise<T>): Promise<T> {
    if (this.active >= this.cap) {
      throw new NodeBusyError(
        `this node already serves ${this.cap} reads; retry later or read through another node`,
      )
    }
    this.active++
    try {
      return await serve()
    } finally {
      this.active--
    }
  }
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
  getProof: async (engine, { fs, signal }) => {
    const r = parseProofRequest(await fs.readJson(signal))
    const answer = await engine.getStorageProof(r.object_id, r.version, r.shard_id, {
      signal,
      epoch: r.epoch,
      leafIndex: r.leaf_index,
    })
    await fs.writeJson(answer as unknown as JsonObject, signal)
  },
  listObjects: async (engine, { fs, signal }) => {
    const r = parseListObjectsRequest(await fs.readJson(signal))
    const answer = await engine.listObjects(r.filters ?? {}, { signal, epoch: r.epoch })
    if (!answer.ok) {
      await fs.writeJson(answer as unknown as JsonObject, signal)
      return
    }
    await fs.writeJson(
      { ok: true, next_cursor: answer.next_cursor, storage_event_id: answer.storage_event_id },
      signal,
    )
    // One summary per frame, then END: a page never has to fit one frame.
    for (const summary of answer.objects) await fs.writeJson(summary as unknown as JsonObject, signal)
    await fs.writeEnd(signal)
  },
}

/**
 * The request, then the content as DATA frames and END, streamed through the engine as it arrives.
 * A write takes one of the node's write slots (NODE_BUSY, an ERROR frame, when none is free) and must
 * deliver its content by its deadline, else the engine fails it with WRITE_TOO_SLOW and takes back
 * what it staged (docs/protocol.md 4.2).
 */
async function serveWrite(
  engine: StorageEngine,
  { fs, signal }: Exchange,
  policy: PublicPolicy,
): Promise<void> {
  const r = parseWriteRequest(await fs.readJson(signal), policy.maxContentBytes)
  const write = policy.writes.admit(signal)
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
 * Header (with the record, so the client can verify), the verified content as DATA frames, and the
 * trailer. A failure after the header (a replica set that cannot serve, INTEGRITY_MISMATCH at the end)
 * becomes an ERROR frame in place of the trailer. The read takes its slot once its request is in: a
 * client that opens streams and says nothing holds streams, which its connections bound, but no
 * slot another reader needs.
 */
async function serveRead(engine: StorageEngine, ex: Exchange, policy: PublicPolicy): Promise<void> {
  const r = parseReadRequest(await ex.fs.readJson(ex.signal))
  // Nothing more is read from the client until the end: bytes it sends anyway wait in the window.
  ex.fs.holdInput()
  await policy.reads.run(() => serveOneRead(engine, ex, r))
}

async function serveOneRead(engine: StorageEngine, { fs, signal }: Exchange, r: ReadRequest): Promise<void> {
  const opened = await engine.readContent(r.object_id, r.version, { signal })
  if (!('content' in opened)) {
    await fs.writeJson(opened as unknown as JsonObject, signal)
    return
  }
  await fs.writeJson(
    {
      ok: true,
      object_id: opened.object_id,
      version: opened.version,
      kind: opened.kind,
      hash_commit: opened.hash_commit,
      content_size: opened.content_size,
      metadata: opened.metadata as unknown as JsonObject,
      record: opened.record as unknown as JsonObject,
      storage_event_id: opened.storage_event_id,
    },
    signal,
  )
  for await (const block of opened.content) await fs.writeData(block, signal)
  await fs.writeJson({ ok: true, proofs: opened.proofs as unknown as JsonObject[] }, signal)
}
