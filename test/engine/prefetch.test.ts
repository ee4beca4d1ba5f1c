import { afterEach, describe, expect, it } from 'vitest'
import { shardId } from '../../src/core/ids.js'
import { FirstBlockPrefetch } from '../../src/engine/prefetch.js'
import { StaticMembership } from '../../src/membership/static.js'
import {
  afterTest,
  engineOn,
  expectOk,
  findObject,
  gate,
  type Harness,
  wrapAll,
} from './consistency-claims-helpers.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

/** The first blocks of an exact-version read, asked for while its record is resolved (prefetch.ts). */

const BLOCK = 256 * 1024
let h: Harness | undefined
const undo: Array<() => void> = []
afterEach(async () => {
  h = await afterTest(h, undo)
})

const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0

interface Fetch {
  node: string
  shard: string
  from: number
  /** Whether a record answer had reached the reader when the fetch was asked. */
  afterRecord: boolean
}

/** Every fetch the transport is asked for, and when, relative to the first record answer. */
function watchFetches(net: Harness['net']): Fetch[] {
  const fetches: Fetch[] = []
  let answered = false
  undo.push(
    wrapAll(net.transport, 'getRecord', async (original, node, ...rest) => {
      const record = await original(node, ...rest)
      answered = true
      return record
    }),
    wrapAll(net.transport, 'fetchShard', (original, node, ...rest) => {
      fetches.push({ node, shard: rest[0] as string, from: rest[1] as number, afterRecord: answered })
      return original(node, ...rest)
    }),
  )
  return fetches
}

describe('prefetched first blocks', () => {
  it('a small exact read asks each shard once, before any home has answered, and reads those blocks', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'small', () => true)
    const content = bytesOf('small', 4096)
    expectOk(await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, content, meta(1)))
    const reader = h.nodeIds[1]!
    const fetches = watchFetches(h.net)
    const got = await engineOn(h, reader).getContent(p.oid, 1)
    expect(got.ok && same(got.content_bytes, content)).toBe(true)
    if (!got.ok) return
    expect(fetches).toHaveLength(4)
    for (const f of fetches) expect(f).toMatchObject({ from: 0, afterRecord: false })
    // Each shard was served by the replica its first block was asked of.
    for (const info of got.proofs) {
      expect(fetches.filter((f) => f.shard === info.shard_id).map((f) => f.node)).toEqual([info.served_by])
    }
  })

  it('a shard of several blocks continues from block 1 on the replica that served block 0', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'multi', () => true)
    const content = bytesOf('multi', 12 * BLOCK + 5)
    expectOk(await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, content, meta(1)))
    const fetches = watchFetches(h.net)
    const got = await engineOn(h, h.nodeIds[2]!).getContent(p.oid, 1)
    expect(got.ok && same(got.content_bytes, content)).toBe(true)
    const shard0 = shardId(p.oid, 1, 0)
    const ofShard0 = fetches.filter((f) => f.shard === shard0)
    expect(ofShard0.map((f) => f.from)).toEqual([0, 1])
    expect(ofShard0[0]!.node).toBe(ofShard0[1]!.node)
  })

  it('asks for the rest of every shard within the read-ahead at once, not when its block 1 is read', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'ahead', () => true)
    // Four shards of four 256 KiB blocks: all four start within the 4 MiB read-ahead.
    const content = bytesOf('ahead', 4 * 1024 * 1024)
    expectOk(await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, content, meta(1)))
    const fetches = watchFetches(h.net)
    const read = await engineOn(h, h.nodeIds[1]!).readContent(p.oid, 1)
    if (!('content' in read)) throw new Error(JSON.stringify(read))
    const blocks = read.content[Symbol.asyncIterator]()
    expect((await blocks.next()).done).toBe(false)
    await new Promise((r) => setTimeout(r, 20))
    // One block read, and every shard's blocks from 1 on already asked for, as a fetch from block 0
    // of each would stream them.
    const fromOne = fetches.filter((f) => f.from === 1).map((f) => f.shard)
    expect(fromOne.sort()).toEqual([0, 1, 2, 3].map((i) => shardId(p.oid, 1, i)).sort())
    const parts: Uint8Array[] = []
    for (let step = await blocks.next(); step.done !== true; step = await blocks.next())
      parts.push(step.value)
    expect(Buffer.concat(parts).length).toBe(content.length - 256 * 1024)
  })

  it('stops the prefetches of shards past the read-ahead when the read starts, and fetches them afresh', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'far', () => true)
    // Four shards of 4.5 MiB: only shard 0 starts within the 4 MiB read-ahead.
    const content = bytesOf('far', 18 * 1024 * 1024)
    expectOk(await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, content, meta(1)))
    const shard0 = shardId(p.oid, 1, 0)
    // A prefetch of a later shard never answers: a read that kept one for its turn would hang.
    const stopped: string[] = []
    undo.push(
      wrapAll(h.net.transport, 'fetchShard', (original, node, ...rest) => {
        const options = rest[2] as { signal: AbortSignal; blocks?: number }
        if (options.blocks !== 1 || rest[0] === shard0) return original(node, ...rest)
        return (async function* () {
          await new Promise((resolve) => options.signal.addEventListener('abort', resolve, { once: true }))
          stopped.push(rest[0] as string)
          yield* []
        })()
      }),
    )
    const got = await engineOn(h, h.nodeIds[1]!).getContent(p.oid, 1)
    expect(got.ok && same(got.content_bytes, content)).toBe(true)
    expect(stopped.sort()).toEqual([1, 2, 3].map((i) => shardId(p.oid, 1, i)).sort())
  })

  it('a prefetched block that does not verify is dropped and the next replica serves the shard', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'bad0', (o) => h!.nodeIds.some((n) => !o.replicas[0]!.includes(n)))
    const content = bytesOf('bad0', 4096)
    const put = await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, content, meta(1))
    expectOk(put)
    const shard0 = put.shard_ids[0]!
    const [r1, r2] = put.replica_sets[shard0]! as [string, string, string]
    const reader = h.nodeIds.find((n) => !p.replicas[0]!.includes(n))!
    h.net.transport.tamper = (node, shard, index, block) =>
      node === r1 && shard === shard0 && index === 0 ? block.map((b) => b ^ 1) : block
    undo.push(() => {
      h!.net.transport.tamper = undefined
    })
    const fetches = watchFetches(h.net)
    const got = await engineOn(h, reader).getContent(p.oid, 1)
    expect(got.ok && same(got.content_bytes, content)).toBe(true)
    if (got.ok) expect(got.proofs[0]!.served_by).toBe(r2)
    expect(fetches.filter((f) => f.shard === shard0).map((f) => `${f.node}@${f.from}`)).toEqual([
      `${r1}@0`,
      `${r2}@0`,
    ])
  })

  it('a read of a version never stored stops every prefetch it started', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'absent', () => true)
    // Replicas that answer a fetch only when it is stopped: what the read leaves running stays open.
    const open = new Set<number>()
    let asked = 0
    undo.push(
      wrapAll(h.net.transport, 'fetchShard', (_original, _node, ...rest) => {
        const id = asked++
        open.add(id)
        const { signal } = rest[2] as { signal: AbortSignal }
        return (async function* () {
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))
          open.delete(id)
          yield* []
        })()
      }),
    )
    const got = await engineOn(h, h.nodeIds[0]!).getContent(p.oid, 3)
    expect(got).toMatchObject({ ok: false, code: 'NOT_FOUND' })
    await new Promise((r) => setTimeout(r, 20))
    expect(asked).toBe(4)
    expect([...open]).toEqual([])
  })

  it('a read of the latest, and a read of a kept record, prefetch nothing', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'latest', () => true)
    const content = bytesOf('latest', 4096)
    expectOk(await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, content, meta(1)))
    const fetches = watchFetches(h.net)
    const latest = await engineOn(h, h.nodeIds[1]!).getContent(p.oid)
    expect(latest.ok && same(latest.content_bytes, content)).toBe(true)
    expect(fetches.length).toBeGreaterThan(0)
    expect(fetches.every((f) => f.afterRecord)).toBe(true)
    // An engine that keeps decided records: the second read of the version asks no home and
    // fetches each shard once, after its (kept) record.
    const keeping = engineOn(h, h.nodeIds[1]!, { decidedRecordsKept: 16 })
    expect((await keeping.getContent(p.oid, 1)).ok).toBe(true)
    fetches.length = 0
    const again = await keeping.getContent(p.oid, 1)
    expect(again.ok && same(again.content_bytes, content)).toBe(true)
    expect(fetches).toHaveLength(4)
  })
  it('a read of a kept record asks each shard of several blocks once, from block 0, as no prefetch splits it', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'kept-multi', () => true)
    const content = bytesOf('kept-multi', 12 * BLOCK)
    expectOk(await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, content, meta(1)))
    const keeping = engineOn(h, h.nodeIds[1]!, { decidedRecordsKept: 16 })
    expect((await keeping.getContent(p.oid, 1)).ok).toBe(true)
    // A record is kept once every home's answer is in (read repair waits for the slower ones).
    await new Promise((r) => setTimeout(r, 50))
    const fetches = watchFetches(h.net)
    const again = await keeping.getContent(p.oid, 1)
    expect(again.ok && same(again.content_bytes, content)).toBe(true)
    expect(fetches.map((f) => f.from)).toEqual([0, 0, 0, 0])
  })
})

describe('FirstBlockPrefetch', () => {
  it('hands a block over only for the replica and block size it was asked with, and stops the rest', async () => {
    const nodes = ['a', 'b', 'c', 'd', 'e']
    const view = new StaticMembership({ nodes }).current()
    const stopped: string[] = []
    const held = gate()
    const transport = {
      fetchShard: (node: string, shard: string, _from: number, options: { signal: AbortSignal }) =>
        (async function* () {
          options.signal.addEventListener('abort', () => stopped.push(`${node}/${shard}`))
          await held.opened
          yield new Uint8Array([1])
        })(),
    }
    const ctx = { nodeId: 'z', transport, timeouts: {} } as never
    const prefetch = new FirstBlockPrefetch(ctx, view, 'a'.repeat(64), 1)
    const ids = [0, 1, 2, 3].map((i) => shardId('a'.repeat(64), 1, i))
    const first = (i: number) => view.eligible.place(ids[i]!, 3).selected[0]!
    // The guessed replica, right block size: handed over, and not stopped.
    const taken = prefetch.take(ids[0]!, first(0), view.params.blockSizeBytes)
    expect(taken).toBeDefined()
    // Another replica, or another block size: dropped and stopped.
    const other = nodes.find((n) => n !== first(1))!
    expect(prefetch.take(ids[1]!, other, view.params.blockSizeBytes)).toBeUndefined()
    expect(prefetch.take(ids[2]!, first(2), view.params.blockSizeBytes * 2)).toBeUndefined()
    // Taken once only.
    expect(prefetch.take(ids[0]!, first(0), view.params.blockSizeBytes)).toBeUndefined()
    prefetch.cancel()
    held.open()
    expect(await taken!.block).toEqual(new Uint8Array([1]))
    expect(stopped.sort()).toEqual(
      [`${first(1)}/${ids[1]}`, `${first(2)}/${ids[2]}`, `${first(3)}/${ids[3]}`].sort(),
    )
  })
})
