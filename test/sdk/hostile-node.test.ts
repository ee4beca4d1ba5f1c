import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import type { EngineFailure } from '../../src/engine/responses.js'
import { MAX_LIST_PAGE_BYTES, StorageClient } from '../../src/net/client.js'
import {
  encodeJsonFrame,
  encodeVarint,
  FRAME_DATA,
  type JsonObject,
  MAX_DATA_BYTES,
} from '../../src/net/frames.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { MAX_BUFFERED_CONTENT_BYTES, QfsClient } from '../../src/sdk/client.js'
import { failureCause } from '../../src/sdk/failures.js'
import { latestVersion } from '../../src/sdk/versions.js'
import { testPeerKey } from '../net/harness.js'
import { type HostileNode, hostileNode, jsonFrameBytes, sendRead, trickle } from './hostile.js'
import { EVENT_ID, type Fixture, fixture, HOLDERS, honestProof, honestRead, type ReadScript } from './stub.js'

const BLOCK = DEFAULT_PARAMS.blockSizeBytes
const MISMATCH = { ok: false, error_code: 'SE_ERR_INTEGRITY_MISMATCH', code: 'INTEGRITY_MISMATCH' }
const UNAVAILABLE = {
  ok: false,
  error_code: 'SE_ERR_INTERNAL',
  code: 'NODE_UNAVAILABLE',
  storage_event_id: null,
}

/** The codes of an answer's local cause chain (the SDK keeps it beside the answer). */
function causeCodes(answer: unknown): string[] {
  const codes: string[] = []
  let e = failureCause(answer as EngineFailure) as { code?: unknown; cause?: unknown } | undefined
  for (let i = 0; e !== undefined && e !== null && i < 8; i++) {
    if (typeof e.code === 'string') codes.push(e.code)
    e = e.cause as typeof e
  }
  return codes
}

function withRecord(
  script: ReadScript,
  change: (record: JsonObject, header: JsonObject) => void,
): ReadScript {
  const record = structuredClone(script.header.record) as JsonObject
  const header: JsonObject = { ...script.header, record }
  change(record, header)
  return { ...script, header }
}

describe('QfsClient against a hostile node', () => {
  let node: HostileNode
  let dialer: Awaited<ReturnType<typeof createQfsLibp2p>>
  let client: QfsClient
  /** The wire client under the SDK, with a list page budget small enough to reach in a test. */
  let wire: StorageClient
  // Shards of 327_762 bytes: two blocks each, the second one short.
  const f = fixture('hostile', 5 * BLOCK + 333)
  const honest = honestRead(f)

  beforeAll(async () => {
    node = await hostileNode(2600)
    dialer = await createQfsLibp2p({ privateKey: await testPeerKey(2601), listen: [] })
    client = await QfsClient.create({
      node: node.address,
      libp2p: dialer,
      timeouts: { requestMs: 1_000, idleMs: 1_000 },
    })
    wire = new StorageClient(
      { libp2p: dialer },
      { limits: { requestTimeoutMs: 1_000, idleTimeoutMs: 1_000 }, maxListPageBytes: 4 * 1024 * 1024 },
    )
  })
  afterAll(async () => {
    await client?.close()
    await dialer?.stop()
    await node?.close()
  })

  const serveRead = (script: ReadScript) => node.answer(PROTOCOLS.read, (fs) => sendRead(fs, script))

  describe('read answers whose blocks do not rebuild the record', () => {
    it('accepts the honest answer (the stub is not what fails below)', async () => {
      await serveRead(honest)
      const got = await client.getContent(f.oid, 1)
      expect(got.ok && Buffer.from(got.content_bytes).equals(f.content)).toBe(true)
    })

    it('refuses two blocks of a shard swapped, and a middle block dropped with bytes made up at the end', async () => {
      const shard0 = f.record.shards[0]!.length
      // Shard 0 is block 0 and the short block 1; swapping them keeps the length and every byte.
      const swapped = Buffer.concat([
        f.content.subarray(BLOCK, shard0),
        f.content.subarray(0, BLOCK),
        f.content.subarray(shard0),
      ])
      const dropped = Buffer.concat([
        f.content.subarray(0, BLOCK),
        f.content.subarray(2 * BLOCK),
        new Uint8Array(BLOCK),
      ])
      for (const content of [swapped, dropped]) {
        expect(content.length).toBe(f.content.length)
        await serveRead({ ...honest, data: [content] })
        const got = await client.getContent(f.oid, 1)
        expect(got).toMatchObject({ ...MISMATCH, storage_event_id: EVENT_ID })
        expect('content_bytes' in got).toBe(false)
      }
    })

    it('refuses a record whose block size is not the one its roots were built with', async () => {
      // Self-consistent on its face: leaf counts follow the claimed 128 KiB blocks.
      const script = withRecord(honest, (r) => {
        r.block_size_bytes = BLOCK / 2
        for (const s of r.shards as JsonObject[]) s.leaf_count = Math.ceil((s.length as number) / (BLOCK / 2))
      })
      await serveRead(script)
      expect(await client.getContent(f.oid, 1)).toMatchObject(MISMATCH)
    })

    it('ends an endless stream of DATA past content_size with INTEGRITY_MISMATCH', async () => {
      let sent = 0
      await node.answer(PROTOCOLS.read, async (fs) => {
        await fs.writeJson(honest.header)
        await fs.writeData(f.content)
        const more = new Uint8Array(65_536)
        for (;;) {
          await fs.writeData(more)
          sent += more.length
        }
      })
      expect(await client.getContent(f.oid, 1)).toMatchObject(MISMATCH)
      // The node was stopped, not drained: it got at most the stream's buffers ahead.
      expect(sent).toBeLessThan(64 * 1024 * 1024)
    })
  })

  describe('read headers whose record is inconsistent', () => {
    /** The same value in the record and in the header (so only the value itself is wrong). */
    const both = (key: string, value: unknown) => (r: JsonObject, h: JsonObject) => {
      r[key] = value
      h[key] = value
    }
    const lies: [string, (r: JsonObject, h: JsonObject) => void][] = [
      [
        'shard lengths that do not sum to content_size',
        (r) => {
          const shards = r.shards as JsonObject[]
          shards[0]!.length = (shards[0]!.length as number) + 1
        },
      ],
      ['a wrong leaf_count', (r) => ((r.shards as JsonObject[])[1]!.leaf_count = 3)],
      ['a duplicate shard index', (r) => ((r.shards as JsonObject[])[1]!.shard_index = 0)],
      [
        'a fifth shard',
        (r) => {
          const shards = r.shards as JsonObject[]
          shards.push({ ...shards[3]!, shard_index: 4 })
        },
      ],
      ['a content_size of 2^53', both('content_size', 2 ** 53)],
      ['a content_size of 2^53 - 1', both('content_size', 2 ** 53 - 1)],
      ['a negative version', both('version', -1)],
      ['a fractional content_size', both('content_size', 1.5)],
      ['a version given as text', both('version', '1')],
      ['a header version other than its record', (_r, h) => (h.version = 2)],
      ['a header hash_commit other than its record', (_r, h) => (h.hash_commit = 'ab'.repeat(32))],
      ['an unknown header field', (_r, h) => (h.extra = 1)],
      ['no record', (_r, h) => delete h.record],
    ]
    for (const [name, lie] of lies) {
      it(`answers ${name} with NODE_UNAVAILABLE (a malformed answer), no byte read`, async () => {
        await serveRead(withRecord(honest, lie))
        const got = await client.getContent(f.oid, 1)
        expect(got).toMatchObject(UNAVAILABLE)
        expect(causeCodes(got)).toEqual(['NODE_UNAVAILABLE', 'INVALID_INPUT'])
      })
    }

    /** A record validateVersionRecord accepts: `size` bytes in blocks of `blockSize`. */
    const sized = (size: number, blockSize: number) =>
      withRecord(honest, (r, h) => {
        r.content_size = size
        h.content_size = size
        r.block_size_bytes = blockSize
        const per = Math.ceil(size / 4)
        ;(r.shards as JsonObject[]).forEach((s, i) => {
          s.length = Math.min(per, size - i * per)
          s.leaf_count = Math.ceil((s.length as number) / blockSize)
        })
      })

    it('refuses blocks larger than one DATA frame (no node can serve them) before reading a byte', async () => {
      // 2^53 - 1 bytes in 1 TiB blocks: a record validateVersionRecord accepts.
      await serveRead({ ...sized(2 ** 53 - 1, 2 ** 40), data: [f.content] })
      const got = await client.readContent(f.oid, 1)
      expect(got).toMatchObject(MISMATCH)
      expect((got as EngineFailure).error_detail).toContain('exceed the protocol')
      await serveRead({ ...sized(f.content.length, MAX_DATA_BYTES + 1), data: [f.content] })
      expect(await client.getContent(f.oid, 1)).toMatchObject(MISMATCH)
    })

    it('getContent refuses to buffer more than maxBytes (1 GiB by default), before any byte', async () => {
      await serveRead({ ...sized(2 ** 53 - 1, MAX_DATA_BYTES), data: [f.content] })
      const huge = await client.getContent(f.oid, 1)
      expect(huge).toMatchObject({ ok: false, code: 'CONTENT_TOO_LARGE', error_code: 'SE_ERR_INVALID_INPUT' })
      expect((huge as EngineFailure).error_detail).toContain(`maxBytes ${MAX_BUFFERED_CONTENT_BYTES}`)
      // The same answer streamed is the caller's to bound: it fails once the bytes stop short.
      await serveRead({ ...sized(2 ** 53 - 1, MAX_DATA_BYTES), data: [f.content] })
      const streamed = await client.readContent(f.oid, 1)
      if (!('content' in streamed)) throw new Error('the header should be accepted')
      await expect(
        (async () => {
          for await (const _ of streamed.content);
        })(),
      ).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' })
      await serveRead(honest)
      const short = await client.getContent(f.oid, 1, { maxBytes: f.content.length - 1 })
      expect(short).toMatchObject({ ok: false, code: 'CONTENT_TOO_LARGE' })
      await serveRead(honest)
      expect(await client.getContent(f.oid, 1, { maxBytes: f.content.length })).toMatchObject({ ok: true })
      for (const maxBytes of [-1, 1.5, Number.NaN]) {
        expect(await client.getContent(f.oid, 1, { maxBytes })).toMatchObject({
          ok: false,
          code: 'INVALID_INPUT',
        })
      }
    })
  })

  describe('frames', () => {
    it('refuses a header whose length prefix announces 4 GiB, or one byte over the frame limit', async () => {
      for (const prefix of [encodeVarint(2 ** 32), encodeVarint(1_048_578)]) {
        await node.answer(PROTOCOLS.read, async (_fs, stream) => {
          stream.send(Buffer.concat([prefix, Uint8Array.of(FRAME_DATA), new Uint8Array(1024)]))
        })
        const got = await client.getContent(f.oid, 1)
        expect(got).toMatchObject(UNAVAILABLE)
        expect(causeCodes(got)).toEqual(['NODE_UNAVAILABLE', 'FRAME_TOO_LARGE'])
      }
    })

    it('refuses an oversized frame, an unknown frame type and an END in the middle of the content', async () => {
      for (const [bytes, code] of [
        [Buffer.concat([encodeVarint(2 ** 32), Uint8Array.of(FRAME_DATA)]), 'FRAME_TOO_LARGE'],
        [Uint8Array.of(2, 0x09, 0), 'UNKNOWN_MESSAGE'],
        [Uint8Array.of(1, 0x03), 'UNEXPECTED_FRAME'],
      ] as const) {
        await node.answer(PROTOCOLS.read, async (fs, stream) => {
          await fs.writeJson(honest.header)
          await fs.writeData(f.content.subarray(0, 3 * BLOCK))
          stream.send(bytes)
        })
        const got = await client.getContent(f.oid, 1)
        expect(got).toMatchObject({ ...UNAVAILABLE, storage_event_id: EVENT_ID })
        expect(causeCodes(got)).toEqual(['NODE_UNAVAILABLE', code])
      }
    })

    it('answers a node that resets the stream mid-content with NODE_UNAVAILABLE', async () => {
      await node.answer(PROTOCOLS.read, async (fs) => {
        await fs.writeJson(honest.header)
        await fs.writeData(f.content.subarray(0, 3 * BLOCK + 17))
        await new Promise((resolve) => setTimeout(resolve, 50))
        fs.abort(new Error('reset by a hostile node'))
      })
      expect(await client.getContent(f.oid, 1)).toMatchObject({ ...UNAVAILABLE, storage_event_id: EVENT_ID })
    })

    /** A read, a proof and a listing at once, each ending NODE_UNAVAILABLE for a TIMEOUT. */
    const expectAllTimeOut = async () => {
      const shard = f.record.shards[0]!.shard_id
      for (const got of await Promise.all([
        client.getContent(f.oid, 1),
        client.fetchStorageProof(f.oid, 1, shard),
        client.listObjects({}),
      ])) {
        expect(got).toMatchObject(UNAVAILABLE)
        expect(causeCodes(got)).toEqual(['NODE_UNAVAILABLE', 'TIMEOUT'])
      }
    }

    it('times out on a node that answers nothing, for a read, a proof and a listing', async () => {
      const silent = async () => {
        await new Promise((resolve) => setTimeout(resolve, 5_000))
      }
      for (const protocol of [PROTOCOLS.read, PROTOCOLS.getProof, PROTOCOLS.listObjects])
        await node.answer(protocol, silent)
      await expectAllTimeOut()
    })

    it('times out on a node that trickles a frame a byte at a time, each byte within the idle timeout', async () => {
      // Each byte restarts a wait for "any bytes"; a frame that never completes must still end the call.
      const header = jsonFrameBytes(honest.header)
      await node.answer(PROTOCOLS.read, (_fs, stream) => trickle(stream, header, 300))
      await node.answer(PROTOCOLS.getProof, (_fs, stream) => trickle(stream, header, 300))
      await node.answer(PROTOCOLS.listObjects, (_fs, stream) => trickle(stream, header, 300))
      await expectAllTimeOut()
    })

    it('times out on a node that trickles the content between whole frames', async () => {
      const data = Buffer.concat([
        encodeVarint(BLOCK + 1),
        Uint8Array.of(FRAME_DATA),
        f.content.subarray(0, BLOCK),
      ])
      await node.answer(PROTOCOLS.read, async (fs, stream) => {
        await fs.writeJson(honest.header)
        await trickle(stream, data, 300)
      })
      const got = await client.getContent(f.oid, 1)
      expect(got).toMatchObject({ ...UNAVAILABLE, storage_event_id: EVENT_ID })
      expect(causeCodes(got)).toEqual(['NODE_UNAVAILABLE', 'TIMEOUT'])
    })
  })

  describe('list answers', () => {
    const summary = (x: Fixture, extra: Partial<JsonObject> = {}): JsonObject => ({
      object_id: x.oid,
      version: 1,
      kind: 'STORE',
      hash_commit: x.record.hash_commit,
      content_size: x.content.length,
      created_at_tick: 7,
      metadata: x.metadata as unknown as JsonObject,
      ...extra,
    })
    const servePage = (
      page: (request: JsonObject) => { next_cursor: JsonObject | null; objects: JsonObject[] },
    ) =>
      node.answer(PROTOCOLS.listObjects, async (fs, _stream, request) => {
        const p = page(request)
        await fs.writeJson({ ok: true, next_cursor: p.next_cursor, storage_event_id: EVENT_ID })
        for (const o of p.objects) await fs.writeJson(o)
        await fs.writeEnd()
      })
    const tagged = fixture('list-tagged', 10, { tags: ['keep'] })
    const untagged = fixture('list-untagged', 10, { tags: ['other'] })

    it('answers malformed entries with NODE_UNAVAILABLE', async () => {
      for (const bad of [
        { ...summary(tagged), kind: 'BOGUS' },
        { ...summary(tagged), version: 0 },
        { ...summary(tagged), content_size: -1 },
        { ...summary(tagged), extra: true },
        { ...summary(tagged), metadata: { author_node_id: '' } },
      ]) {
        await servePage(() => ({ next_cursor: null, objects: [bad] }))
        expect(await client.listObjects({})).toMatchObject(UNAVAILABLE)
      }
    })

    it('refuses entries that do not carry the tag asked for', async () => {
      await servePage(() => ({ next_cursor: null, objects: [summary(untagged)] }))
      expect(await client.listObjects({ tag: 'keep' })).toMatchObject(MISMATCH)
      // In its normal form: " KEEP " asks for "keep".
      await servePage(() => ({ next_cursor: null, objects: [summary(tagged)] }))
      expect(await client.listObjects({ tag: ' KEEP ' })).toMatchObject({ ok: true })
    })

    it('refuses a next_cursor that does not advance past `after` or leaves the prefix', async () => {
      const after = { object_id: tagged.oid, version: 3 }
      await servePage(() => ({ next_cursor: after, objects: [] }))
      expect(await client.listObjects({ after })).toMatchObject(MISMATCH)
      await servePage(() => ({ next_cursor: { object_id: tagged.oid, version: 2 }, objects: [] }))
      expect(await client.listObjects({ after })).toMatchObject(MISMATCH)
      const elsewhere = tagged.oid[0] === 'f' ? '0' : 'f'
      await servePage(() => ({
        next_cursor: { object_id: elsewhere.repeat(64), version: 1 },
        objects: [],
      }))
      expect(await client.listObjects({ prefix: tagged.oid.slice(0, 4) })).toMatchObject(MISMATCH)
      // A cursor within the prefix, past `after`, is an honest short page.
      await servePage(() => ({ next_cursor: { object_id: tagged.oid, version: 9 }, objects: [] }))
      expect(await client.listObjects({ prefix: tagged.oid.slice(0, 4), after })).toMatchObject({
        ok: true,
        objects: [],
      })
    })

    it('stops latestVersion on a cursor that repeats or names another object, after one page', async () => {
      const oid = tagged.oid
      for (const cursor of [
        { object_id: oid, version: 1 },
        { object_id: objectId('hostile', 'other'), version: 5 },
      ]) {
        let pages = 0
        await servePage(() => {
          pages++
          return { next_cursor: cursor, objects: [] }
        })
        const got = await latestVersion(client, oid)
        expect(got).toMatchObject({ ok: false, code: 'INTEGRITY_MISMATCH' })
        expect(pages).toBeLessThanOrEqual(2)
      }
    })

    it('refuses a page of more than 1000 summaries', async () => {
      const one = summary(tagged)
      await node.answer(PROTOCOLS.listObjects, async (fs) => {
        await fs.writeJson({ ok: true, next_cursor: null, storage_event_id: EVENT_ID })
        for (;;) await fs.writeJson(one)
      })
      const got = await client.listObjects({})
      expect(got).toMatchObject(UNAVAILABLE)
      expect(causeCodes(got)).toEqual(['NODE_UNAVAILABLE', 'FRAME_INVALID'])
    })

    it('refuses a page heavier than its byte budget, before holding it all', async () => {
      // Each summary valid and near the frame limit (a 1 MB telemetry node id): 1000 would be 1 GB.
      const heavy = (i: number) =>
        summary(fixture(`heavy-${i}`, 10), {
          metadata: {
            ...(tagged.metadata as unknown as JsonObject),
            aegis_telemetry_stub: {
              at_epoch: 0,
              latency_band: 0,
              node_id: 'x'.repeat(1_000_000),
              proof_result: 'NONE',
            },
          },
        })
      const objects = Array.from({ length: 8 }, (_, i) => heavy(i)).sort((a, b) =>
        (a.object_id as string) < (b.object_id as string) ? -1 : 1,
      )
      await servePage(() => ({ next_cursor: null, objects }))
      const err = await wire.list(client.node, {}).then(
        (answer) => answer,
        (e: unknown) => e,
      )
      expect(err).toMatchObject({ code: 'NODE_UNAVAILABLE', cause: { code: 'FRAME_TOO_LARGE' } })
      // Three of them pass.
      await servePage(() => ({ next_cursor: null, objects: objects.slice(0, 3) }))
      expect(await wire.list(client.node, {})).toMatchObject({ ok: true })
    })

    it('budgets list pages above the heaviest honest one (1000 summaries at the node metadata limits)', () => {
      // Every string at its byte limit in characters JSON escapes to six bytes (docs/protocol.md 4.1).
      const c = '\u0001'
      const metadata = {
        author_node_id: c.repeat(128),
        created_at_tick: Number.MAX_SAFE_INTEGER,
        tags: Array.from({ length: 32 }, (_, i) => c.repeat(62) + String(i).padStart(2, '0')),
        openagi_score: 1_000_000,
        atr_fee_events: Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(64, '0')),
        aegis_telemetry_stub: {
          at_epoch: Number.MAX_SAFE_INTEGER,
          latency_band: Number.MAX_SAFE_INTEGER,
          node_id: c.repeat(128),
          proof_result: 'NONE',
        },
      }
      const largest = {
        ...summary(tagged),
        version: Number.MAX_SAFE_INTEGER,
        kind: 'DELETE_MARKER',
        content_size: Number.MAX_SAFE_INTEGER,
        created_at_tick: Number.MAX_SAFE_INTEGER,
        metadata,
      }
      const frame = encodeJsonFrame(largest).reduce((n, part) => n + part.length, 0)
      expect(frame).toBeGreaterThan(30_000)
      expect(1000 * frame).toBeLessThan(MAX_LIST_PAGE_BYTES)
    })
  })

  describe('proof answers', () => {
    const shard = f.record.shards[1]!
    const proofOf = (answer: JsonObject, change: (p: JsonObject) => void): JsonObject => {
      const proof = structuredClone(answer.proof) as JsonObject
      change(proof)
      return { ...answer, proof }
    }

    it('refuses a consistent proof of another shard, another version, or from a non-holder', async () => {
      await serveRead(honest)
      expect((await client.getContent(f.oid, 1)).ok).toBe(true)
      const other = honestProof(f, 2, 0)
      for (const answer of [
        other,
        {
          ...honestProof(f, 1, 0),
          version: 2,
          proof: { ...(honestProof(f, 1, 0).proof as JsonObject), version: 2 },
        },
        { ...honestProof(f, 1, 0), answered_by: 'not-a-holder' },
        { ...honestProof(f, 1, 0), assigned_nodes: [...HOLDERS].reverse() },
      ]) {
        await node.answer(PROTOCOLS.getProof, (fs) => fs.writeJson(answer))
        expect(await client.getStorageProof(f.oid, 1, shard.shard_id)).toMatchObject(MISMATCH)
      }
    })

    it('refuses an audit path of absurd length, and one a hash short or long', async () => {
      const base = honestProof(f, 1, 0)
      for (const change of [
        (p: JsonObject) => (p.audit_path = Array.from({ length: 10_000 }, () => 'ab'.repeat(32))),
        (p: JsonObject) => (p.audit_path = [...(p.audit_path as string[]), 'ab'.repeat(32)]),
        (p: JsonObject) => (p.audit_path = (p.audit_path as string[]).slice(1)),
      ]) {
        await node.answer(PROTOCOLS.getProof, (fs) => fs.writeJson(proofOf(base, change)))
        const got = await client.getStorageProof(f.oid, 1, shard.shard_id, { leafIndex: 0 })
        expect(got).toMatchObject(MISMATCH)
      }
    })
  })

  it('is still usable after every attack above', async () => {
    await serveRead(honest)
    const got = await client.getContent(f.oid, 1)
    expect(got.ok && Buffer.from(got.content_bytes).equals(f.content)).toBe(true)
  })
})
