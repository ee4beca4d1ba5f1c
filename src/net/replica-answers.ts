/**
 * The answers of the replica protocols that take a stream each (replica/manifest, replica/fetch,
 * replica/list), read on the Libp2pTransport's side: a manifest's leaf hashes, a shard's blocks and
 * a page of records.
 */
import { toHex } from '../core/bytes.js'
import type { ProtocolParams } from '../core/params.js'
import { recordWireBytes, type VersionRecord, validateVersionRecord } from '../core/record.js'
import { compareKey } from '../engine/list.js'
import type { ShardManifestInfo } from '../engine/transport.js'
import { exchangeFailure } from './dial.js'
import { FrameInvalidError } from './errors.js'
import { unexpected } from './frame-reader.js'
import type { FrameStream } from './frame-stream.js'
import { dataBytes } from './frames.js'
import { parseManifestReply } from './messages.js'

/** One reason for every fetch stopped early: a per-call Error would keep its stack's receivers alive (see engine/read.ts READ_STOPPED). */
const FETCH_ENDED_EARLY = new Error('fetch ended early')

/** A manifest answer: its head, then at most `maxLeaves` leaf hashes, exactly as many as it announced. */
export async function readManifest(
  fs: FrameStream,
  signal: AbortSignal,
  maxLeaves: number,
): Promise<ShardManifestInfo | undefined> {
  const head = parseManifestReply(await fs.readJson(signal))
  if (head === undefined) return undefined
  if (head.leaf_count > maxLeaves) throw new FrameInvalidError(`manifest announces ${head.leaf_count} leaves`)
  const leaves: string[] = []
  let partial = new Uint8Array(0)
  for (;;) {
    const frame = await fs.read(signal)
    if (frame.type === 'end') break
    if (frame.type !== 'data') throw unexpected(frame, 'DATA or END')
    const bytes = partial.length === 0 ? dataBytes(frame) : Buffer.concat([partial, ...frame.chunks])
    const whole = bytes.length - (bytes.length % 32)
    if (leaves.length + whole / 32 > head.leaf_count)
      throw new FrameInvalidError('more leaf hashes than announced')
    for (let off = 0; off < whole; off += 32) leaves.push(toHex(bytes.subarray(off, off + 32)))
    partial = bytes.slice(whole)
  }
  if (partial.length !== 0 || leaves.length !== head.leaf_count) {
    throw new FrameInvalidError(`manifest carried ${leaves.length} of ${head.leaf_count} leaf hashes`)
  }
  return { ...head, leaf_hashes: leaves }
}

/** Sends a fetch request on an opened replica/fetch stream and yields the blocks it answers. */
export async function* readBlocks(
  fs: FrameStream,
  nodeId: string,
  shardId: string,
  fromBlock: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  let complete = false
  try {
    try {
      await fs.writeJson({ shard_id: shardId, from_block: fromBlock }, signal)
      await fs.close(signal)
    } catch (err) {
      throw exchangeFailure(err, nodeId)
    }
    for (;;) {
      let frame: Awaited<ReturnType<FrameStream['read']>>
      try {
        // Bounded per frame by the idle timeout, not overall: a shard takes as long as it takes.
        frame = await fs.read(signal)
        if (frame.type !== 'data' && frame.type !== 'end') throw unexpected(frame, 'DATA or END')
      } catch (err) {
        throw exchangeFailure(err, nodeId)
      }
      if (frame.type === 'end') break
      // One block per frame: the reader checks it whole against its leaf hash.
      yield dataBytes(frame)
    }
    complete = true
  } finally {
    // A reader that stops early (it has every block it needs) resets the stream.
    if (complete) fs.done()
    else fs.abort(FETCH_ENDED_EARLY)
  }
}

/**
 * A listing answer: records, at most `limit` of them, then END; none after the record whose bytes
 * reach `maxBytes` (docs/protocol.md 4.13), so a peer cannot make a coordinator hold more than it
 * asked for.
 */
export async function readRecords(
  fs: FrameStream,
  signal: AbortSignal,
  bounds: { limit: number; maxBytes: number },
  params: ProtocolParams,
): Promise<VersionRecord[]> {
  const records: VersionRecord[] = []
  let bytes = 0
  for (;;) {
    const frame = await fs.read(signal)
    if (frame.type === 'end') return records
    if (frame.type !== 'json') throw unexpected(frame, 'a record or END')
    if (records.length === bounds.limit)
      throw new FrameInvalidError(`more than the ${bounds.limit} records asked for`)
    if (bytes >= bounds.maxBytes)
      throw new FrameInvalidError(`records past the ${bounds.maxBytes} bytes asked for`)
    const record = validateVersionRecord(frame.value, params)
    // A node sends its catalogue in order, each version once: a page that repeats or goes back is
    // not one a node keeps, and a coordinator's boundary takes a page's last key as its highest.
    const previous = records[records.length - 1]
    if (previous !== undefined && compareKey(previous, record) >= 0)
      throw new FrameInvalidError(
        `record ${record.object_id} v${record.version} does not follow ${previous.object_id} v${previous.version} in (object_id, version) order`,
      )
    bytes += recordWireBytes(record)
    records.push(record)
  }
}
