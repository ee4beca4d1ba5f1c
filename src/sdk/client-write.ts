import { toHex } from '../core/bytes.js'
import { HashCommitBuilder } from '../core/commit.js'
import { InvalidInputError } from '../core/errors.js'
import type { ProtocolParams } from '../core/params.js'
import type { VersionKind } from '../core/record.js'
import type { PutOptions } from '../engine/api.js'
import { IntegrityMismatchError } from '../engine/errors.js'
import { failure, type StoreResponse } from '../engine/responses.js'
import { type ContentSource, contentSource } from '../engine/write.js'
import { guardedProgress, seedOf } from './call-input.js'
import { checkStoreAnswer } from './checks.js'
import type { ClientParts } from './client-calls.js'
import { toFailure } from './failures.js'

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

/** putContent of a QfsClient: the content sent as it is committed to, and the node's answer checked. */
export async function putContentCall(
  parts: ClientParts,
  objectId: string,
  version: number,
  content: Uint8Array | ContentSource,
  metadata: unknown,
  options: PutOptions,
): Promise<StoreResponse> {
  const refused = parts.calls.refusedAtOnce(options)
  if (refused !== undefined) return refused
  const outgoing = outgoingContent(content, metadata)
  if (outgoing === undefined)
    return failure(new InvalidInputError('content must be bytes or {size, chunks}'), null)
  const begun = await parts.calls.begin('writes', options)
  if ('answer' in begun) {
    outgoing.release()
    return begun.answer
  }
  const { call } = begun
  const progress = guardedProgress(options.onProgress)
  const size = outgoing.size
  try {
    const answer = await parts.storage.put(
      parts.node,
      {
        object_id: objectId,
        version,
        metadata,
        content_size: size,
        epoch: options.epoch,
        timestamp_tick: options.timestampTick,
      },
      outgoing.wire,
      {
        signal: call.signal,
        onProgress:
          progress === undefined
            ? undefined
            : (sent) => progress({ phase: 'stage', bytes: sent, total: size }),
      },
    )
    if (!answer.ok) return answer
    const kind: VersionKind = version === 1 ? 'STORE' : 'UPDATE'
    const hashCommit = outgoing.hashCommit(parts.params.schemaVersion)
    return checkedStoreAnswer(parts.params, answer, {
      objectId,
      version,
      kind,
      contentSize: size,
      hashCommit,
    })
  } catch (err) {
    return parts.calls.failureOf(err, null)
  } finally {
    call.end()
    outgoing.release()
  }
}

/** deleteContent of a QfsClient: the node's answer checked against the empty version it names. */
export async function deleteContentCall(
  parts: ClientParts,
  objectId: string,
  version: number,
  metadata: unknown,
  options: PutOptions,
): Promise<StoreResponse> {
  const begun = await parts.calls.begin('writes', options)
  if ('answer' in begun) return begun.answer
  const { call } = begun
  try {
    const answer = await parts.storage.delete(
      parts.node,
      {
        object_id: objectId,
        version,
        metadata,
        epoch: options.epoch,
        timestamp_tick: options.timestampTick,
      },
      { signal: call.signal },
    )
    if (!answer.ok) return answer
    const seed = seedOf(metadata)
    const hashCommit =
      seed === undefined ? undefined : toHex(new HashCommitBuilder().digest(parts.params.schemaVersion, seed))
    return checkedStoreAnswer(parts.params, answer, {
      objectId,
      version,
      kind: 'DELETE_MARKER',
      contentSize: 0,
      hashCommit,
    })
  } catch (err) {
    return parts.calls.failureOf(err, null)
  } finally {
    call.end()
  }
}

function checkedStoreAnswer(
  params: ProtocolParams,
  answer: Extract<StoreResponse, { ok: true }>,
  expected: Omit<Parameters<typeof checkStoreAnswer>[1], 'params'>,
): StoreResponse {
  const wrong = checkStoreAnswer(answer, { ...expected, params })
  if (wrong === undefined) return answer
  return toFailure(
    new IntegrityMismatchError(`the node's store answer is wrong: ${wrong}`),
    answer.storage_event_id,
  )
}
