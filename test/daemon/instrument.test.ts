import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { InvalidInputError } from '../../src/core/errors.js'
import { InFlight, instrumentEngine, instrumentNodeService } from '../../src/daemon/instrument.js'
import { NodeMetrics } from '../../src/daemon/metrics.js'
import type { StorageEngine } from '../../src/engine/engine.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import type { NodeService } from '../../src/engine/node-service.js'
import { ReadTooSlowError, StreamEndedError } from '../../src/net/errors.js'

function setup() {
  const metrics = new NodeMetrics(new Registry())
  const inflight = new InFlight()
  const text = () => metrics.registry.metrics()
  return { tracker: { metrics, inflight }, inflight, text }
}

describe('InFlight', () => {
  it('is idle at once when empty, when the last operation ends, and not before', async () => {
    const f = new InFlight()
    expect(await f.idle(1)).toBe(true)
    const end1 = f.begin()
    const end2 = f.begin()
    expect(await f.idle(5)).toBe(false)
    const idle = f.idle(10_000)
    end1()
    end1()
    expect(f.size).toBe(1)
    // One operation still in flight is not idle either.
    expect(await f.idle(5)).toBe(false)
    end2()
    expect(await idle).toBe(true)
  })
})

describe('instrumentEngine', () => {
  it('reports a write acknowledged with missing replicas in a counter per node and a warning', async () => {
    const { tracker, text } = setup()
    const warnings: unknown[] = []
    const stub = {
      async putContent() {
        return { ok: true, object_id: 'o', version: 2, under_replicated: { s1: ['n3'], s2: ['n3', 'n4'] } }
      },
      async deleteContent() {
        return { ok: true, under_replicated: {} }
      },
    } as unknown as StorageEngine
    const engine = instrumentEngine(stub, { ...tracker, log: { warn: (o: unknown) => warnings.push(o) } })
    await engine.putContent('o', 2, new Uint8Array(0), {})
    await engine.deleteContent('o', 3, {})
    const body = await text()
    expect(body).toContain('qfs_under_replicated_shards_total{node="n3"} 2')
    expect(body).toContain('qfs_under_replicated_shards_total{node="n4"} 1')
    expect(warnings).toEqual([
      { object_id: 'o', version: 2, under_replicated: { s1: ['n3'], s2: ['n3', 'n4'] } },
    ])
  })

  it('counts answers by outcome and failures by their code, and tracks streamed reads', async () => {
    const { tracker, inflight, text } = setup()
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => (release = r))
    const stub = {
      async putContent() {
        await gate
        return { ok: true }
      },
      async listObjects() {
        return { ok: false, code: 'INVALID_INPUT', error_code: 'SE_ERR_INVALID_INPUT' }
      },
      async getStorageProof() {
        throw new InvalidInputError('thrown')
      },
      async readContent() {
        return {
          ok: true,
          content: (async function* () {
            yield new Uint8Array(1)
            yield new Uint8Array(2)
          })(),
        }
      },
      other: 42,
    } as unknown as StorageEngine
    const engine = instrumentEngine(stub, tracker)
    const put = engine.putContent('x', 1, new Uint8Array(0), {})
    expect(inflight.size).toBe(1)
    release()
    await put
    expect(inflight.size).toBe(0)
    await engine.listObjects({})
    await expect(engine.getStorageProof('x', 1, 'y')).rejects.toThrow('thrown')
    const opened = (await engine.readContent('x')) as unknown as { content: AsyncIterable<Uint8Array> }
    expect(inflight.size).toBe(0)
    const it = opened.content[Symbol.asyncIterator]()
    await it.next()
    expect(inflight.size).toBe(1)
    await it.return?.()
    expect(inflight.size).toBe(0)
    expect((engine as unknown as { other: number }).other).toBe(42)
    const t = await text()
    expect(t).toContain('qfs_requests_total{op="write",outcome="ok"} 1')
    expect(t).toContain('qfs_requests_total{op="list_objects",outcome="error"} 1')
    expect(t).toContain('qfs_request_errors_total{op="list_objects",code="INVALID_INPUT"} 1')
    expect(t).toContain('qfs_request_errors_total{op="get_proof",code="INVALID_INPUT"} 1')
    expect(t).toContain('qfs_requests_total{op="read",outcome="ok"} 1')
    expect(t).toContain('qfs_requests_total{op="read_stream",outcome="ok"} 1')
  })
})

describe('instrumentEngine: how a streamed read ended', () => {
  function reader(blocks: number) {
    const stub = {
      async readContent() {
        return {
          ok: true,
          content: (async function* () {
            for (let i = 0; i < blocks; i++) yield new Uint8Array(1)
          })(),
        }
      },
    } as unknown as StorageEngine
    return stub
  }
  async function open(engine: StorageEngine, signal?: AbortSignal) {
    const opened = (await engine.readContent('x', 1, { signal })) as unknown as {
      content: AsyncIterable<Uint8Array>
    }
    return opened.content[Symbol.asyncIterator]()
  }

  it('counts content left early under an aborted signal as a failed read_stream, by the reason', async () => {
    const { tracker, inflight, text } = setup()
    const engine = instrumentEngine(reader(3), tracker)
    const controller = new AbortController()
    const it = await open(engine, controller.signal)
    await it.next()
    // The consumer's send failed (READ_TOO_SLOW): it aborts the read, then leaves the content.
    controller.abort(new ReadTooSlowError('the client took 1 bytes in 300 ms of waiting'))
    await it.return?.()
    expect(inflight.size).toBe(0)
    const t = await text()
    expect(t).toContain('qfs_requests_total{op="read",outcome="ok"} 1')
    expect(t).toContain('qfs_requests_total{op="read_stream",outcome="error"} 1')
    expect(t).toContain('qfs_request_errors_total{op="read_stream",code="READ_TOO_SLOW"} 1')
    expect(t).not.toContain('qfs_requests_total{op="read_stream",outcome="ok"}')
  })

  it('counts content that fails once its signal is aborted by the reason, not by the fetch the abort cut', async () => {
    const { tracker, text } = setup()
    // Found by a devnet soak: clients that left mid-read showed as read_stream NODE_UNAVAILABLE.
    const stub = {
      async readContent() {
        return {
          ok: true,
          content: (async function* () {
            yield new Uint8Array(1)
            throw new NodeUnavailableError('the replica fetch was aborted')
          })(),
        }
      },
    } as unknown as StorageEngine
    const engine = instrumentEngine(stub, tracker)
    const controller = new AbortController()
    const it = await open(engine, controller.signal)
    await it.next()
    controller.abort(new StreamEndedError('the peer reset the stream'))
    await expect(it.next()).rejects.toThrow(NodeUnavailableError)
    const t = await text()
    expect(t).toContain('qfs_request_errors_total{op="read_stream",code="STREAM_ENDED"} 1')
    expect(t).not.toContain('code="NODE_UNAVAILABLE"')
  })

  it('counts content taken to its end as ok, even if its signal is aborted afterwards', async () => {
    const { tracker, text } = setup()
    const engine = instrumentEngine(reader(2), tracker)
    const controller = new AbortController()
    const it = await open(engine, controller.signal)
    while (!(await it.next()).done) {}
    controller.abort(new ReadTooSlowError('the trailer was not taken'))
    await it.return?.()
    const t = await text()
    expect(t).toContain('qfs_requests_total{op="read_stream",outcome="ok"} 1')
    expect(t).not.toContain('qfs_requests_total{op="read_stream",outcome="error"}')
  })

  it('counts content an in-process consumer stops taking, its signal live, as ok (it had what it wanted)', async () => {
    const { tracker, text } = setup()
    const engine = instrumentEngine(reader(3), tracker)
    const it = await open(engine, new AbortController().signal)
    await it.next()
    await it.return?.()
    const t = await text()
    expect(t).toContain('qfs_requests_total{op="read_stream",outcome="ok"} 1')
    expect(t).not.toContain('qfs_requests_total{op="read_stream",outcome="error"}')
  })
})

describe('instrumentNodeService', () => {
  it('ends a push at finish or abort and a fetch at its last block', async () => {
    const { tracker, inflight, text } = setup()
    const sink = { write: async () => {}, finish: async () => ({ ok: 1 }), abort: async () => {} }
    const stub = {
      nodeId: 'n1',
      openShard: async () => sink,
      async *fetchShard() {
        yield new Uint8Array(1)
        throw new InvalidInputError('bad block')
      },
      getRecord: async () => undefined,
    } as unknown as NodeService
    const service = instrumentNodeService(stub, tracker)
    expect(service.nodeId).toBe('n1')
    const s1 = await service.openShard({} as never)
    expect(inflight.size).toBe(1)
    await s1.write(new Uint8Array(1))
    await s1.finish()
    const s2 = await service.openShard({} as never)
    await s2.abort(new InvalidInputError('gave up'))
    expect(inflight.size).toBe(0)
    const blocks: Uint8Array[] = []
    await expect(
      (async () => {
        for await (const b of service.fetchShard('s', 0)) blocks.push(b)
      })(),
    ).rejects.toThrow('bad block')
    expect(blocks).toHaveLength(1)
    expect(inflight.size).toBe(0)
    await service.getRecord('o', 'latest')
    const t = await text()
    expect(t).toContain('qfs_requests_total{op="replica_push",outcome="ok"} 1')
    expect(t).toContain('qfs_request_errors_total{op="replica_push",code="INVALID_INPUT"} 1')
    expect(t).toContain('qfs_request_errors_total{op="replica_fetch",code="INVALID_INPUT"} 1')
    expect(t).toContain('qfs_requests_total{op="replica_record",outcome="ok"} 1')
  })
})

describe('instrumentNodeService: the replica calls', () => {
  it('counts each replica call under its own op', async () => {
    const { tracker, text } = setup()
    const calls = {
      stageShards: 'replica_stage',
      commitVersion: 'replica_commit',
      abortStaging: 'replica_abort',
      getRecord: 'replica_record',
      getManifest: 'replica_manifest',
      proveShard: 'replica_prove',
      listRecords: 'replica_list',
    }
    const stub = Object.fromEntries(Object.keys(calls).map((name) => [name, async () => ({})]))
    const service = instrumentNodeService(stub as unknown as NodeService, tracker)
    for (const name of Object.keys(calls))
      await (service as unknown as Record<string, () => Promise<unknown>>)[name]!()
    const t = await text()
    for (const op of Object.values(calls))
      expect(t).toContain(`qfs_requests_total{op="${op}",outcome="ok"} 1`)
  })
})
