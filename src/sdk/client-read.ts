import type { VersionRecord } from '../core/record.js'
import type { OpenedRead } from '../engine/api.js'
import { IntegrityMismatchError } from '../engine/errors.js'
import type { EngineFailure, ShardReadInfo } from '../engine/responses.js'
import type { OpenedRead as WireRead } from '../net/client.js'
import { RemoteError } from '../net/errors.js'
import { guardedProgress } from './call-input.js'
import { checkReadHeader } from './checks.js'
import type { Call, ClientParts } from './client-calls.js'
import type { ReadCallOptions } from './client-options.js'
import { ClientClosedError } from './errors.js'
import { toFailure } from './failures.js'
import { type TransferProgress, verifiedContent } from './verified-read.js'

/** The engine's opened read, plus `cancel()` for a read whose content will not be consumed. */
export interface QfsOpenedRead extends OpenedRead {
  cancel(): void
}

const RECORD_CACHE_SIZE = 256

/**
 * Records of versions this client read and verified, at most RECORD_CACHE_SIZE, the oldest dropped
 * first. A decided record never changes, so one a verified read tied to its content backs later
 * proof checks without asking again.
 */
export class VerifiedRecords {
  private readonly records = new Map<string, VersionRecord>()

  get(objectId: string, version: number): VersionRecord | undefined {
    return this.records.get(`${objectId}/${version}`)
  }

  remember(record: VersionRecord): void {
    if (this.records.size >= RECORD_CACHE_SIZE) this.records.delete(this.records.keys().next().value!)
    this.records.set(`${record.object_id}/${record.version}`, record)
  }
}

export interface ReadHooks {
  onProgress?: (p: TransferProgress) => void
  /** Called with the record once every byte of the content checked out against it. */
  onVerified: (record: VersionRecord) => void
  /** Whether the client is closed: a read its closing cut off is no node's failure. */
  closed: () => boolean
}

/**
 * A read whose header checked out, as the SDK hands it over: content that verifies as it streams,
 * and the call's slot following the node's read (freed once the stream is done, since the node then
 * holds nothing for it, even if the content is never consumed) or the consumer (cancel, an early
 * return, the content's end).
 */
export function openedRead(wire: WireRead, call: Call, hooks: ReadHooks): QfsOpenedRead {
  void wire.closed.then(call.nodeDone)
  const proofs: ShardReadInfo[] = []
  let cancelled = false
  const cancel = () => {
    cancelled = true
    wire.cancel()
    call.end()
  }
  const content = verifiedContent(wire, proofs, guardedProgress(hooks.onProgress), () => cancelled)
  return {
    ok: true,
    object_id: wire.object_id,
    version: wire.version,
    kind: wire.kind,
    hash_commit: wire.hash_commit,
    content_size: wire.content_size,
    metadata: wire.metadata,
    storage_event_id: wire.storage_event_id,
    record: wire.record,
    content: cancelledOnReturn(rememberOnceVerified(content, wire.record, call.end, hooks), cancel),
    proofs,
    cancel,
  }
}

/**
 * readContent of a QfsClient: the node's read header checked against what was asked for, then the
 * read as the SDK hands it over (openedRead), its record remembered once every byte verified.
 */
export async function readContentCall(
  parts: ClientParts,
  records: VerifiedRecords,
  objectId: string,
  version: number | undefined,
  options: ReadCallOptions,
): Promise<QfsOpenedRead | EngineFailure> {
  const begun = await parts.calls.begin('reads', options)
  if ('answer' in begun) return begun.answer
  const { call } = begun
  let opened: WireRead | EngineFailure
  try {
    // The SDK verifies on its own (below), so the wire client's copy of the check is not run twice.
    opened = await parts.storage.read(
      parts.node,
      { object_id: objectId, version },
      { signal: call.signal, verify: false },
    )
  } catch (err) {
    call.end()
    return parts.calls.failureOf(err, null)
  }
  if (!opened.ok) {
    call.end()
    return opened
  }
  const wire = opened
  const wrong = checkReadHeader(wire, objectId, version)
  if (wrong !== undefined) {
    wire.cancel()
    call.end()
    return toFailure(new IntegrityMismatchError(wrong), wire.storage_event_id)
  }
  return openedRead(wire, call, {
    onProgress: options.onProgress,
    onVerified: (record) => records.remember(record),
    closed: () => parts.calls.closed,
  })
}

/**
 * The content as it streams, then the record handed to `onVerified` once every byte checked out
 * against it: a record whose roots no verified read tied to the content never backs a later proof
 * check.
 */
async function* rememberOnceVerified(
  content: AsyncGenerator<Uint8Array, boolean>,
  record: VersionRecord,
  end: () => void,
  hooks: ReadHooks,
): AsyncGenerator<Uint8Array> {
  try {
    if (yield* content) hooks.onVerified(record)
  } catch (err) {
    if (hooks.closed() && !(err instanceof RemoteError) && !(err instanceof IntegrityMismatchError))
      throw new ClientClosedError(undefined, { cause: err })
    throw err
  } finally {
    end()
  }
}

/**
 * The content, cancelled (the read stopped, its slot freed) when the consumer returns early. A
 * generator's own `finally` does that only once it has started: `return()` before the first `next()`
 * (a consumer that decides not to read after all) never runs its body.
 */
function cancelledOnReturn(
  content: AsyncGenerator<Uint8Array>,
  cancel: () => void,
): AsyncGenerator<Uint8Array> {
  const wrapped: AsyncGenerator<Uint8Array> = {
    next: (...args) => content.next(...args),
    throw: (err) => content.throw(err),
    return: async (value) => {
      cancel()
      return content.return(value)
    },
    [Symbol.asyncIterator]: () => wrapped,
  }
  return wrapped
}
