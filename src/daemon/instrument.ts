import { performance } from 'node:perf_hooks'
import type { ReadContentOptions, StorageEngine } from '../engine/engine.js'
import type { NodeService } from '../engine/node-service.js'
import { fineCode } from '../engine/responses.js'
import type { ShardSink } from '../engine/transport.js'
import type { Logger } from './logger.js'
import type { NodeMetrics } from './metrics.js'

/**
 * Operations in progress, so a stop can let them finish: each `begin` returns its `end`. A stream
 * (a read's content, a shard fetch) counts from its first pull to its last, so one nobody consumes
 * never holds a stop up.
 */
export class InFlight {
  private count = 0
  private waiters: Array<() => void> = []

  get size(): number {
    return this.count
  }

  begin(): () => void {
    this.count++
    let ended = false
    return () => {
      if (ended) return
      ended = true
      if (--this.count === 0) for (const wake of this.waiters.splice(0)) wake()
    }
  }

  /** True once nothing is in flight; false if `timeoutMs` passes first. */
  async idle(timeoutMs: number): Promise<boolean> {
    if (this.count === 0) return true
    let timer: NodeJS.Timeout | undefined
    const drained = new Promise<boolean>((resolve) => this.waiters.push(() => resolve(true)))
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs)
    })
    try {
      return await Promise.race([drained, expired])
    } finally {
      clearTimeout(timer)
    }
  }
}

interface Tracker {
  metrics: NodeMetrics
  inflight: InFlight
  /** Where an acknowledged but under-replicated write is reported; the response alone is easy to miss. */
  log?: Pick<Logger, 'warn'>
}

/** One operation's measurement: `done` records it once, whatever path ends it. */
function start(t: Tracker, op: string): (err?: unknown, code?: string) => void {
  const end = t.inflight.begin()
  const t0 = performance.now()
  let recorded = false
  return (err, code) => {
    if (recorded) return
    recorded = true
    end()
    const failed = err !== undefined || code !== undefined
    t.metrics.observe(
      op,
      failed ? 'error' : 'ok',
      (performance.now() - t0) / 1000,
      code ?? (failed ? fineCode(err) : undefined),
    )
  }
}

function reportUnderReplicated(
  t: Tracker,
  answer: { under_replicated?: Record<string, string[]>; object_id?: unknown; version?: unknown },
): void {
  const missing = answer.under_replicated ?? {}
  if (Object.keys(missing).length === 0) return
  t.metrics.underReplicated(missing)
  t.log?.warn(
    { object_id: answer.object_id, version: answer.version, under_replicated: missing },
    'write acknowledged with missing replicas (repair input)',
  )
}

const ENGINE_OPS: Record<string, string> = {
  putContent: 'write',
  deleteContent: 'delete',
  getContent: 'read',
  getStorageProof: 'get_proof',
  listObjects: 'list_objects',
}

/**
 * The engine with every public call counted and timed (`qfs_requests_total{op,outcome}`, errors by
 * their fine code) and tracked in flight. Engine calls answer `{ok: false, code}` rather than throw.
 */
export function instrumentEngine(engine: StorageEngine, tracker: Tracker): StorageEngine {
  return new Proxy(engine, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function') return value
      if (prop === 'readContent') return (...args: unknown[]) => readContent(target, tracker, args)
      const op = typeof prop === 'string' ? ENGINE_OPS[prop] : undefined
      if (op === undefined) return value.bind(target)
      return async (...args: unknown[]) => {
        const done = start(tracker, op)
        try {
          const answer = (await value.apply(target, args)) as {
            ok: boolean
            code?: string
            under_replicated?: Record<string, string[]>
          }
          done(undefined, answer.ok ? undefined : (answer.code ?? 'INTERNAL'))
          if (answer.ok && answer.under_replicated !== undefined) reportUnderReplicated(tracker, answer)
          return answer
        } catch (err) {
          done(err)
          throw err
        }
      }
    },
  })
}

async function readContent(engine: StorageEngine, tracker: Tracker, args: unknown[]) {
  const done = start(tracker, 'read')
  let opened: Awaited<ReturnType<StorageEngine['readContent']>>
  try {
    opened = await engine.readContent(...(args as Parameters<StorageEngine['readContent']>))
  } catch (err) {
    done(err)
    throw err
  }
  if (!('content' in opened)) {
    done(undefined, opened.code)
    return opened
  }
  // The header is out; the read is over when its bytes are (or when nobody ever pulls them).
  done()
  const signal = (args[2] as ReadContentOptions | undefined)?.signal
  const inner = opened.content
  const content = (async function* () {
    const streamed = start(tracker, 'read_stream')
    try {
      yield* inner
      streamed()
    } catch (err) {
      // Under an aborted signal the read failed for that reason: the fetches the abort cut short
      // fail too (NODE_UNAVAILABLE), which says nothing of the replicas.
      streamed(signal?.aborted === true ? signal.reason : err)
      throw err
    } finally {
      // Left before its end. Under an aborted signal the read was ended (READ_TOO_SLOW, a reset, a
      // send that failed: net/serve-public.ts aborts the read's signal with why), and it failed for
      // that reason. With the signal live the consumer chose to stop, having what it wanted.
      if (signal?.aborted === true) streamed(signal.reason)
      else streamed()
    }
  })()
  return { ...opened, content }
}

const NODE_OPS: Record<string, string> = {
  stageShards: 'replica_stage',
  commitVersion: 'replica_commit',
  abortStaging: 'replica_abort',
  getRecord: 'replica_record',
  getManifest: 'replica_manifest',
  proveShard: 'replica_prove',
  listRecords: 'replica_list',
}

/** The node service as peers reach it through the storage protocol, counted and tracked the same way. */
export function instrumentNodeService(service: NodeService, tracker: Tracker): NodeService {
  return new Proxy(service, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function') return value
      if (prop === 'openShard') return (...args: unknown[]) => openShard(target, tracker, args)
      if (prop === 'fetchShard') return (...args: unknown[]) => fetchShard(target, tracker, args)
      const op = typeof prop === 'string' ? NODE_OPS[prop] : undefined
      if (op === undefined) return value.bind(target)
      return async (...args: unknown[]) => {
        const done = start(tracker, op)
        try {
          const result = await value.apply(target, args)
          done()
          return result
        } catch (err) {
          done(err)
          throw err
        }
      }
    },
  })
}

async function openShard(service: NodeService, tracker: Tracker, args: unknown[]): Promise<ShardSink> {
  const done = start(tracker, 'replica_push')
  let sink: ShardSink
  try {
    sink = await service.openShard(...(args as Parameters<NodeService['openShard']>))
  } catch (err) {
    done(err)
    throw err
  }
  return {
    write: (chunk, leaf) => sink.write(chunk, leaf),
    async finish(options) {
      try {
        const staged = await sink.finish(options)
        done()
        return staged
      } catch (err) {
        done(err)
        throw err
      }
    },
    async abort(reason) {
      try {
        await sink.abort(reason)
      } finally {
        done(reason ?? new Error('aborted'))
      }
    },
  }
}

async function* fetchShard(
  service: NodeService,
  tracker: Tracker,
  args: unknown[],
): AsyncGenerator<Uint8Array> {
  const done = start(tracker, 'replica_fetch')
  try {
    yield* service.fetchShard(...(args as Parameters<NodeService['fetchShard']>))
    done()
  } catch (err) {
    done(err)
    throw err
  } finally {
    // A consumer that stops early (it has the blocks it needs) ends the fetch without error.
    done()
  }
}
