import { describe, expect, it } from 'vitest'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import { InProcessTransport } from '../../src/engine/in-process.js'
import type { NodeService } from '../../src/engine/node-service.js'
import type { ShardHeader, ShardSink, StagedShardInfo } from '../../src/engine/transport.js'
import { VersionConflictError } from '../../src/store/errors.js'

/**
 * The in-process transport stands in for libp2p in every engine test, so its failure behaviour is
 * the one those tests exercise: a node taken down answers NODE_UNAVAILABLE at every step (also in
 * the middle of a push or a fetch), a node's typed refusal reaches the caller with its code, an
 * internal failure becomes NODE_UNAVAILABLE, a caller that gave up is never sent the request, and
 * bytes cross the "network" as copies. Each case runs against a scripted NodeService whose calls
 * the test sees.
 */

const HEADER: ShardHeader = {
  object_id: 'a'.repeat(64),
  version: 1,
  shard_index: 0,
  shard_id: 'b'.repeat(64),
  length: 3,
  block_size_bytes: 3,
}
const STAGED: StagedShardInfo = {
  node_id: 'n1',
  staging_id: 's1',
  shard_id: HEADER.shard_id,
  length: 3,
  leaf_count: 1,
  merkle_root: 'c'.repeat(64),
}

/** A scripted node: each method records that it ran, then does what `script` says (or a plain answer). */
function scriptedNode(script: Partial<Record<string, (...args: unknown[]) => unknown>> = {}) {
  const calls: string[] = []
  const received: Uint8Array[] = []
  const aborts: unknown[] = []
  let finished = 0
  const sink: ShardSink = {
    write: async (chunk) => {
      received.push(chunk)
    },
    finish: async () => {
      finished++
      return STAGED
    },
    abort: async (reason) => {
      aborts.push(reason)
    },
  }
  const run =
    (name: string, fallback: (...args: unknown[]) => unknown) =>
    (...args: unknown[]) => {
      calls.push(name)
      return (script[name] ?? fallback)(...args)
    }
  const service = {
    nodeId: 'n1',
    openShard: run('openShard', async () => sink),
    stageShards: run('stageShards', async () => [STAGED]),
    commitVersion: run('commitVersion', async () => ({})),
    abortStaging: run('abortStaging', async () => {}),
    getRecord: run('getRecord', async () => undefined),
    getManifest: run('getManifest', async () => undefined),
    fetchShard: run('fetchShard', () => blocks(3)),
    proveShard: run('proveShard', async () => ({})),
    listRecords: run('listRecords', async () => []),
  } as unknown as NodeService
  const transport = new InProcessTransport()
  transport.add(service)
  return { transport, calls, received, aborts, finishes: () => finished }
}

async function* blocks(count: number, from = 0): AsyncIterable<Uint8Array> {
  for (let i = from; i < count; i++) yield new Uint8Array([i, i, i])
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const b of it) out.push(b)
  return out
}

describe('InProcessTransport: what a node says reaches the caller as over libp2p', () => {
  it("passes a node's typed refusal through with its code, and hides an internal failure as NODE_UNAVAILABLE", async () => {
    const conflict = new VersionConflictError('version 1 is taken')
    const { transport } = scriptedNode({
      getRecord: async () => {
        throw conflict
      },
      getManifest: async () => {
        throw new TypeError('a bug inside the node')
      },
    })
    await expect(transport.getRecord('n1', 'a'.repeat(64), 1)).rejects.toBe(conflict)
    const internal = await transport.getManifest('n1', 'b'.repeat(64)).catch((e: unknown) => e)
    expect(internal).toBeInstanceOf(NodeUnavailableError)
    expect((internal as Error).message).not.toContain('a bug inside the node')
  })

  it('hides an internal failure in the middle of a fetch as NODE_UNAVAILABLE', async () => {
    const { transport } = scriptedNode({
      fetchShard: async function* () {
        yield new Uint8Array([1])
        throw new TypeError('disk gone')
      },
    })
    const err = await collect(transport.fetchShard('n1', 'b'.repeat(64), 0)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NodeUnavailableError)
  })
})

describe('InProcessTransport: a node taken down', () => {
  it('refuses the next write and the finish of a push it had opened, and the node sees neither', async () => {
    const node = scriptedNode()
    const sink = await node.transport.openShard('n1', HEADER)
    await sink.write(new Uint8Array([1, 2, 3]))
    node.transport.setDown('n1', true)
    await expect(sink.write(new Uint8Array([4]))).rejects.toMatchObject({ code: 'NODE_UNAVAILABLE' })
    await expect(sink.finish()).rejects.toMatchObject({ code: 'NODE_UNAVAILABLE' })
    expect(node.received).toHaveLength(1)
    expect(node.finishes()).toBe(0)
    node.transport.setDown('n1', false)
    await expect(sink.finish()).resolves.toEqual(STAGED)
  })

  it('ends a fetch in progress with NODE_UNAVAILABLE after the blocks already sent', async () => {
    const node = scriptedNode()
    const got: Uint8Array[] = []
    const err = await (async () => {
      for await (const b of node.transport.fetchShard('n1', 'b'.repeat(64), 0)) {
        got.push(b)
        node.transport.setDown('n1', true)
      }
    })().catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'NODE_UNAVAILABLE' })
    expect(got).toHaveLength(1)
  })
})

describe('InProcessTransport: a caller that gave up', () => {
  const reason = new Error('the caller left')
  const gone = () => AbortSignal.abort(reason)

  it('is never sent to the node: open, manifest, proof, and the finish of an open push', async () => {
    const node = scriptedNode()
    const sink = await node.transport.openShard('n1', HEADER)
    await expect(node.transport.openShard('n1', HEADER, { signal: gone() })).rejects.toBe(reason)
    await expect(node.transport.getManifest('n1', 'b'.repeat(64), { signal: gone() })).rejects.toBe(reason)
    await expect(node.transport.proveShard('n1', 'b'.repeat(64), 0, { signal: gone() })).rejects.toBe(reason)
    await expect(sink.finish({ signal: gone() })).rejects.toBe(reason)
    expect(node.calls).toEqual(['openShard'])
    expect(node.finishes()).toBe(0)
  })

  it("hands the caller's signal to the node's fetch, so the node stops reading its disk", async () => {
    let seen: AbortSignal | undefined
    const node = scriptedNode({
      fetchShard: (_id: unknown, _from: unknown, options: unknown) => {
        seen = (options as { signal?: AbortSignal } | undefined)?.signal
        return blocks(1)
      },
    })
    const controller = new AbortController()
    await collect(node.transport.fetchShard('n1', 'b'.repeat(64), 0, { signal: controller.signal }))
    expect(seen).toBe(controller.signal)
  })
})

describe('InProcessTransport: bytes cross as copies, and a push can be called off', () => {
  it('gives the node a copy of each pushed chunk, so a caller reusing its buffer changes nothing stored', async () => {
    const node = scriptedNode()
    const sink = await node.transport.openShard('n1', HEADER)
    const buffer = new Uint8Array([7, 7, 7])
    await sink.write(buffer)
    buffer.fill(0)
    expect([...node.received[0]!]).toEqual([7, 7, 7])
  })

  it("passes a push's abort and its reason to the node", async () => {
    const node = scriptedNode()
    const sink = await node.transport.openShard('n1', HEADER)
    const why = new Error('quorum already lost')
    await sink.abort(why)
    expect(node.aborts).toEqual([why])
  })
})

describe('InProcessTransport: tamper', () => {
  it('is told the index of each block within the shard, counting from the first block asked for', async () => {
    const node = scriptedNode({
      fetchShard: (_id: unknown, from: unknown) => blocks(5, from as number),
    })
    const seen: number[] = []
    node.transport.tamper = (_node, _shard, index, block) => {
      seen.push(index)
      // The scripted node's block i is [i, i, i]: the index told must be the block's own.
      expect(block[0]).toBe(index)
      return block
    }
    await collect(node.transport.fetchShard('n1', 'b'.repeat(64), 2))
    expect(seen).toEqual([2, 3, 4])
  })
})
