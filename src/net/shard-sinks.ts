import { performance } from 'node:perf_hooks'
import type { AbortOptions, ShardHeader, ShardSink, StagedShardInfo } from '../engine/transport.js'
import { exchangeFailure } from './dial.js'
import { FrameInvalidError } from './errors.js'
import { unexpected } from './frame-reader.js'
import type { FrameStream } from './frame-stream.js'
import type { JsonObject } from './frames.js'
import { parseStagedShardInfo } from './messages.js'
import type { RpcChannels } from './rpc-client.js'
import { parseStageReply } from './rpc-messages.js'

/**
 * A shard of at most MAX_INLINE_SHARD_BYTES, gathered and staged in one request on the replica
 * channel when finished; nothing reaches the replica before, so an abort has nothing to undo.
 */
export class InlineShardSink implements ShardSink {
  private readonly bytes: Uint8Array
  private filled = 0

  constructor(
    private readonly rpc: RpcChannels,
    private readonly nodeId: string,
    private readonly header: ShardHeader,
  ) {
    this.bytes = new Uint8Array(header.length)
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.filled + chunk.length > this.bytes.length)
      throw new RangeError(`more than the ${this.bytes.length} bytes of shard ${this.header.shard_id}`)
    this.bytes.set(chunk, this.filled)
    this.filled += chunk.length
  }

  async finish(options?: AbortOptions): Promise<StagedShardInfo> {
    if (this.filled !== this.bytes.length)
      throw new RangeError(
        `shard ${this.header.shard_id} finished at ${this.filled} of ${this.bytes.length} bytes`,
      )
    const answer = await this.rpc.request(
      this.nodeId,
      'stage',
      { shards: [this.header as unknown as JsonObject] },
      { data: this.bytes, signal: options?.signal },
    )
    try {
      return parseStageReply(answer.body, [this.header], this.nodeId)[0]!
    } catch (err) {
      throw exchangeFailure(err, this.nodeId)
    }
  }

  async abort(): Promise<void> {}
}

/**
 * The coordinator's end of one replica/push stream. A replica hears only whole blocks, and a stream
 * opened ahead hears nothing until its shard starts, while the coordinator may wait on a slow or
 * bursty client far longer than the replica's idle timeout; so whenever nothing went out for
 * `keepAliveMs` (a quarter of the idle timeout), a KEEPALIVE frame does: the replica never hears
 * nothing for more than about half its idle timeout while the write is alive (docs/protocol.md
 * 4.2, 4.6).
 */
export class RemoteShardSink implements ShardSink {
  private lastSentMs = performance.now()
  private writing = false
  private keepAlive: NodeJS.Timeout | undefined

  constructor(
    private readonly fs: FrameStream,
    private readonly nodeId: string,
    private readonly shardId: string,
    keepAliveMs: number,
  ) {
    if (keepAliveMs > 0) {
      this.keepAlive = setInterval(() => this.sendKeepAlive(keepAliveMs), keepAliveMs)
      this.keepAlive.unref()
    }
  }

  private sendKeepAlive(keepAliveMs: number): void {
    if (this.writing || performance.now() - this.lastSentMs < keepAliveMs) return
    try {
      if (this.fs.sendKeepAlive()) this.lastSentMs = performance.now()
    } catch {
      // A stream that cannot send shows it at the next block or the finish; the keep-alive just stops.
      this.stopKeepAlive()
    }
  }

  private stopKeepAlive(): void {
    clearInterval(this.keepAlive)
    this.keepAlive = undefined
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.writing = true
    try {
      // The replica says nothing before END unless it refuses: stop at its first word.
      if (this.fs.pending > 0) throw unexpected(await this.fs.read(), 'nothing before END')
      if (chunk.length > 0) await this.fs.writeData(chunk)
      this.lastSentMs = performance.now()
    } catch (err) {
      this.stopKeepAlive()
      this.fs.abort(err as Error)
      throw exchangeFailure(err, this.nodeId)
    } finally {
      this.writing = false
    }
  }

  async finish(options?: AbortOptions): Promise<StagedShardInfo> {
    this.stopKeepAlive()
    const signal = options?.signal
    const onAbort = () => this.fs.abort(signal?.reason as Error)
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      signal?.throwIfAborted()
      if (this.fs.pending > 0) throw unexpected(await this.fs.read(), 'nothing before END')
      await this.fs.writeEnd()
      await this.fs.close()
      const staged = parseStagedShardInfo(await this.fs.readJson())
      if (staged.node_id !== this.nodeId || staged.shard_id !== this.shardId) {
        throw new FrameInvalidError('staged answer names another node or shard')
      }
      this.fs.done()
      return staged
    } catch (err) {
      this.fs.abort(err as Error)
      throw exchangeFailure(err, this.nodeId)
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  async abort(reason?: Error): Promise<void> {
    this.stopKeepAlive()
    this.fs.abort(reason ?? new Error('shard push aborted'))
  }
}
