import { toHex } from '../core/bytes.js'
import { HashCommitBuilder } from '../core/commit.js'
import { type ContentSource, contentSource } from '../engine/write.js'
import { seedOf } from './call-input.js'

/** Content as a QfsClient sends it, committed to as it goes out. */
export interface OutgoingContent {
  size: number
  /** Bytes given whole stay whole: the wire client sends small content with its request in one send. */
  wire: Uint8Array | AsyncIterable<Uint8Array>
  /**
   * `hash_commit` over the bytes that went out, with the metadata's seed; undefined when the metadata
   * has none (the node refuses such a write, so there is no answer to compare).
   */
  hashCommit(schemaVersion: number): string | undefined
  /** Stops hearing the source's errors; call once the write is over. */
  release(): void
}

/** What `content` sends, or undefined when it is neither bytes nor `{size, chunks}`. */
export function outgoingContent(
  content: Uint8Array | ContentSource,
  metadata: unknown,
): OutgoingContent | undefined {
  const source = contentSource(content)
  if (source === undefined) return undefined
  const seed = seedOf(metadata)
  const commit = seed === undefined ? undefined : new HashCommitBuilder()
  // A stream source (a file's ReadStream) that fails before its first byte is asked for, while the
  // node is still being dialled, emits 'error' with nobody listening, which ends the process. Heard
  // for the length of the call, the failure waits in the stream: its iterator throws it, and the
  // call answers CONTENT_SOURCE_FAILED.
  const emitter = source.chunks as Partial<Pick<NodeJS.EventEmitter, 'on' | 'off'>>
  const ignore = () => {}
  const listening = typeof emitter.on === 'function' && typeof emitter.off === 'function'
  if (listening) emitter.on!('error', ignore)
  async function* sending(): AsyncGenerator<Uint8Array> {
    for await (const chunk of source!.chunks) {
      if (chunk instanceof Uint8Array) commit?.update(chunk)
      yield chunk
    }
  }
  let wire: Uint8Array | AsyncIterable<Uint8Array> = sending()
  if (content instanceof Uint8Array) {
    commit?.update(content)
    wire = content
  }
  return {
    size: source.size,
    wire,
    hashCommit: (schemaVersion) =>
      commit === undefined ? undefined : toHex(commit.digest(schemaVersion, seed!)),
    release: () => {
      if (listening) emitter.off!('error', ignore)
    },
  }
}
