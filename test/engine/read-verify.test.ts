import { afterEach, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { leafHash } from '../../src/core/merkle.js'
import { RecentFailures } from '../../src/engine/peer-health.js'
import type { ShardManifestInfo } from '../../src/engine/transport.js'
import { RootMismatchError } from '../../src/store/errors.js'
import {
  afterTest,
  engineOn,
  expectOk,
  findObject,
  type Harness,
  same,
} from './consistency-claims-helpers.js'
import { spyHealth } from './cut-short-helpers.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

/** What a read takes from a replica only once it verified against the record (read.ts). */

const BLOCK = 256 * 1024
let h: Harness | undefined
const undo: Array<() => void> = []
afterEach(async () => {
  h = await afterTest(h, undo)
})

const flip = (block: Uint8Array) => block.map((b) => b ^ 1)

/** Makes `node` answer `shard`'s manifest through `fn`; returns the undo. */
function forgeManifest(
  net: Harness['net'],
  node: string,
  shard: string,
  fn: (m: ShardManifestInfo) => Promise<ShardManifestInfo> | ShardManifestInfo,
): () => void {
  const t = net.transport
  const saved = t.getManifest
  t.getManifest = async (n, id, options) => {
    const m = await saved.call(t, n, id, options)
    return n === node && id === shard && m !== undefined ? fn(m) : m
  }
  return () => {
    t.getManifest = saved
  }
}

describe('a replica whose manifest does not rebuild the record’s root', () => {
  it('is skipped, even when its blocks match the leaves it sent, and no byte of it reaches the reader', async () => {
    h = await inProcessHarness(5)
    const net = h.net
    // A reader outside shard 0's replicas: every block of it comes from a peer.
    const p = findObject(h.nodeIds, 'forged-manifest', (o) =>
      h!.nodeIds.some((n) => !o.replicas[0]!.includes(n)),
    )
    const content = bytesOf('forged-manifest', 12 * BLOCK)
    const put = await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, content, meta(1))
    expectOk(put)
    const shard0 = put.shard_ids[0]!
    const liar = put.replica_sets[shard0]![0]!
    const reader = h.nodeIds.find((n) => !p.replicas[0]!.includes(n))!
    // The liar serves other bytes, and leaf hashes that those bytes match (but not the root).
    net.transport.tamper = (node, shard, _i, block) =>
      node === liar && shard === shard0 ? flip(block) : block
    undo.push(() => {
      net.transport.tamper = undefined
    })
    undo.push(
      forgeManifest(net, liar, shard0, async (m) => {
        const hashes: string[] = []
        for await (const block of net.node(liar).service.fetchShard(shard0, 0))
          hashes.push(toHex(leafHash(flip(block))))
        expect(hashes.length).toBeGreaterThan(1)
        return { ...m, leaf_hashes: hashes }
      }),
    )
    const got = await engineOn(h, reader).getContent(p.oid, 1)
    expect(got.ok && same(got.content_bytes, content)).toBe(true)
    if (got.ok) expect(got.proofs[0]!.served_by).not.toBe(liar)
    // Serving a public read (no hash_commit check at the end), the liar's bytes are still kept out.
    const opened = await engineOn(h, reader).readContent(p.oid, 1, { checkCommit: false })
    if (!opened.ok) throw new Error(opened.code)
    const parts: Uint8Array[] = []
    for await (const piece of opened.content) parts.push(piece)
    expect(same(Buffer.concat(parts), content)).toBe(true)
  })
})

describe('a replica that ends a shard early', () => {
  it('is skipped and the next one continues from where it stopped, also when no hash_commit check follows', async () => {
    h = await inProcessHarness(5)
    const net = h.net
    const p = findObject(h.nodeIds, 'ends-early', (o) => h!.nodeIds.some((n) => !o.replicas[0]!.includes(n)))
    const content = bytesOf('ends-early', 12 * BLOCK)
    const put = await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, content, meta(1))
    expectOk(put)
    const shard0 = put.shard_ids[0]!
    const short = put.replica_sets[shard0]![0]!
    const reader = h.nodeIds.find((n) => !p.replicas[0]!.includes(n))!
    // The first replica serves block 0 and ends its stream, however far the read asked.
    const t = net.transport
    const saved = t.fetchShard
    t.fetchShard = async function* (node, shard, from, options) {
      let index = from
      for await (const block of saved.call(t, node, shard, from, options)) {
        if (node === short && shard === shard0 && index > 0) return
        index++
        yield block
      }
    }
    undo.push(() => {
      t.fetchShard = saved
    })
    const got = await engineOn(h, reader).getContent(p.oid, 1)
    expect(got.ok && same(got.content_bytes, content)).toBe(true)
    if (got.ok) expect(got.proofs[0]!.served_by).not.toBe(short)
    const opened = await engineOn(h, reader).readContent(p.oid, 1, { checkCommit: false })
    if (!opened.ok) throw new Error(opened.code)
    const parts: Uint8Array[] = []
    for await (const piece of opened.content) parts.push(piece)
    expect(same(Buffer.concat(parts), content)).toBe(true)
  })
})

describe('a shard every replica answers with ROOT_MISMATCH', () => {
  it('reads as INTEGRITY_MISMATCH (bad bytes somewhere), not as a shard out of reach', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'root-mismatch', (o) =>
      h!.nodeIds.some((n) => !o.replicas[0]!.includes(n)),
    )
    const put = await h
      .engine(h.nodeIds[0]!)
      .putContent(p.oid, 1, bytesOf('root-mismatch', 12 * BLOCK), meta(1))
    expectOk(put)
    const shard0 = put.shard_ids[0]!
    const reader = h.nodeIds.find((n) => !p.replicas[0]!.includes(n))!
    for (const node of p.replicas[0]!) {
      undo.push(
        forgeManifest(h.net, node, shard0, () => {
          throw new RootMismatchError(`${node}'s copy of ${shard0} does not hash to its root`)
        }),
      )
    }
    const before = h.logEntries(reader)
    const read = await engineOn(h, reader).getContent(p.oid, 1)
    expect(read).toMatchObject({
      ok: false,
      code: 'INTEGRITY_MISMATCH',
      error_code: 'SE_ERR_INTEGRITY_MISMATCH',
    })
    // The content failed after the READ event was logged: the answer names that event.
    expect(h.logEntries(reader) - before).toBe(1)
    expect(read.storage_event_id).toMatch(/^[0-9a-f]{64}$/)
  })
})

describe('what a read tells the health record', () => {
  it('a replica that is away, and no home, becomes suspect from the read alone', async () => {
    h = await inProcessHarness(5)
    // Shard 0's first replica is no catalogue home (no lookup can tell it is away) and the reader
    // holds no copy of shard 0.
    const p = findObject(
      h.nodeIds,
      'away-replica',
      (o) => !o.homes.includes(o.replicas[0]![0]!) && h!.nodeIds.some((n) => !o.replicas[0]!.includes(n)),
    )
    const content = bytesOf('away-replica', 3 * BLOCK)
    expectOk(await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, content, meta(1)))
    const away = p.replicas[0]![0]!
    const reader = h.nodeIds.find((n) => !p.replicas[0]!.includes(n))!
    const health = new RecentFailures()
    await h.setDown(away, true)
    undo.push(() => void h?.setDown(away, false))
    const got = await engineOn(h, reader, {}, health).getContent(p.oid, 1)
    expect(got.ok && same(got.content_bytes, content)).toBe(true)
    expect(health.suspect(away)).toBe(true)
  })

  it('a replica that served its shard is reported as answering, which ends a suspicion', async () => {
    h = await inProcessHarness(5)
    const p = findObject(
      h.nodeIds,
      'served-replica',
      (o) => !o.homes.includes(o.replicas[0]![0]!) && h!.nodeIds.some((n) => !o.replicas[0]!.includes(n)),
    )
    expectOk(
      await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, bytesOf('served-replica', 3 * BLOCK), meta(1)),
    )
    const server = p.replicas[0]![0]!
    const reader = h.nodeIds.find((n) => !p.replicas[0]!.includes(n))!
    const health = spyHealth([])
    const got = await engineOn(h, reader, {}, health).getContent(p.oid, 1)
    expectOk(got)
    expect(got.proofs[0]!.served_by).toBe(server)
    // No lookup reached it (it is no home): only its shard stream can say it answered.
    expect(health.reports).toContain(`${server}:ok`)
  })

  it('a caller that gives up mid-shard gets its own reason, and no replica is blamed', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'gone-mid-shard', (o) =>
      h!.nodeIds.some((n) => !o.replicas[0]!.includes(n)),
    )
    expectOk(
      await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, bytesOf('gone-mid-shard', 12 * BLOCK), meta(1)),
    )
    const reader = h.nodeIds.find((n) => !p.replicas[0]!.includes(n))!
    const health = spyHealth([])
    const gone = new AbortController()
    const opened = await engineOn(h, reader, {}, health).readContent(p.oid, 1, { signal: gone.signal })
    if (!opened.ok) throw new Error(opened.code)
    const reports = health.reports.length
    const reason = new Error('caller gone')
    const content = opened.content[Symbol.asyncIterator]()
    expect((await content.next()).done).toBe(false)
    gone.abort(reason)
    // A block already on its way may still come; the read then ends with the caller's reason.
    let ended: unknown
    for (let i = 0; i < 12 && ended === undefined; i++) {
      ended = await content.next().then(
        (step) => (step.done === true ? 'done' : undefined),
        (err: unknown) => err,
      )
    }
    expect(ended).toBe(reason)
    expect(health.reports.slice(reports).filter((r) => !r.endsWith(':ok'))).toEqual([])
  })
})

describe('the READ event', () => {
  it('names the version read, also when the latest was asked for', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'read-event', () => true)
    expectOk(await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, bytesOf('read-event-1', 100), meta(1)))
    expectOk(await h.engine(h.nodeIds[0]!).putContent(p.oid, 2, bytesOf('read-event-2', 100), meta(2)))
    const reader = h.nodeIds[1]!
    const got = await engineOn(h, reader).getContent(p.oid)
    expectOk(got)
    const events = []
    for await (const e of h.net.node(reader).log.iterate()) events.push(e)
    expect(events.at(-1)).toMatchObject({ event_type: 'READ', object_id: p.oid, version: 2 })
    expect(events.at(-1)!.event_id).toBe(got.storage_event_id)
  })
})
