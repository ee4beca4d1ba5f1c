import type { Libp2p, Stream } from '@libp2p/interface'
import { atrCost } from '../../src/core/atr.js'
import { toHex } from '../../src/core/bytes.js'
import { hashCommit } from '../../src/core/commit.js'
import { objectId, shardId } from '../../src/core/ids.js'
import { MerkleTree } from '../../src/core/merkle.js'
import { metadataSeed, normalizeMetadata, type StorageMetadata } from '../../src/core/metadata.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { buildStorageProof, type StorageProof } from '../../src/core/proof.js'
import type { VersionRecord } from '../../src/core/record.js'
import { computeShardLayout, type ShardLayout } from '../../src/core/shards.js'
import { FrameStream } from '../../src/net/frame-stream.js'
import { type JsonObject, MAX_FRAME_BYTES } from '../../src/net/frames.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { bytesOf, meta } from '../engine/suite.js'
import { testPeerKey } from '../net/harness.js'

export const EVENT_ID = 'ab'.repeat(32)
export const HOLDERS = ['stub-holder-a', 'stub-holder-b', 'stub-holder-c']

/** One version computed with the core alone: what an honest coordinator would answer. */
export interface Fixture {
  oid: string
  version: number
  content: Uint8Array
  metadata: StorageMetadata
  layout: ShardLayout[]
  record: VersionRecord
}

export function fixture(label: string, size: number, extra: Record<string, unknown> = {}): Fixture {
  const oid = objectId('stub', label)
  const content = bytesOf(label, size)
  const metadata = normalizeMetadata(meta(7, extra))
  const layout = computeShardLayout(content, DEFAULT_PARAMS)
  const record: VersionRecord = {
    object_id: oid,
    version: 1,
    kind: 'STORE',
    hash_commit: toHex(hashCommit(content, DEFAULT_PARAMS.schemaVersion, metadataSeed(metadata))),
    content_size: size,
    metadata,
    schema_version: DEFAULT_PARAMS.schemaVersion,
    block_size_bytes: DEFAULT_PARAMS.blockSizeBytes,
    epoch: 0,
    timestamp_tick: 7,
    atr_cost: atrCost(size, 4, 3).toString(),
    shards: layout.map((s) => ({
      shard_index: s.index,
      shard_id: shardId(oid, 1, s.index),
      length: s.length,
      leaf_count: s.blockCount,
      merkle_root: toHex(s.merkleRoot),
      replicas: HOLDERS,
    })),
    catalogue_homes: HOLDERS,
  }
  return { oid, version: 1, content, metadata, layout, record }
}

/** What the stub sends on a read stream: the header, DATA bodies, and the trailer (or none). */
export interface ReadScript {
  header: JsonObject
  data: Uint8Array[]
  trailer: JsonObject | null
  /** Awaited before each DATA body is sent: a test holds the read mid-content with it. */
  pace?: () => Promise<void>
}

export function honestRead(f: Fixture, pieceSize = 100_003): ReadScript {
  const data: Uint8Array[] = []
  for (let off = 0; off < f.content.length; off += pieceSize) {
    data.push(f.content.subarray(off, Math.min(off + pieceSize, f.content.length)))
  }
  return {
    header: {
      ok: true,
      object_id: f.oid,
      version: f.version,
      kind: f.record.kind,
      hash_commit: f.record.hash_commit,
      content_size: f.record.content_size,
      metadata: f.metadata as unknown as JsonObject,
      record: f.record as unknown as JsonObject,
      storage_event_id: EVENT_ID,
    },
    data,
    trailer: {
      ok: true,
      proofs: f.record.shards.map((s) => ({
        shard_id: s.shard_id,
        shard_index: s.shard_index,
        merkle_root: s.merkle_root,
        leaf_count: s.leaf_count,
        served_by: s.length > 0 ? s.replicas[0]! : null,
      })),
    },
  }
}

export function honestProof(f: Fixture, shardIndex: number, leafIndex: number): JsonObject {
  const s = f.layout[shardIndex]!
  const block = f.content.subarray(
    s.start + leafIndex * DEFAULT_PARAMS.blockSizeBytes,
    Math.min(s.start + (leafIndex + 1) * DEFAULT_PARAMS.blockSizeBytes, s.start + s.length),
  )
  const proof: StorageProof = buildStorageProof({
    objectId: f.oid,
    version: 1,
    shardId: f.record.shards[shardIndex]!.shard_id,
    tree: MerkleTree.fromLeafHashes(s.leafHashes),
    leafIndex,
    block,
  })
  return {
    ok: true,
    object_id: f.oid,
    version: 1,
    shard_id: proof.shard_id,
    merkle_root: proof.merkle_root,
    proof: proof as unknown as JsonObject,
    assigned_nodes: HOLDERS,
    answered_by: HOLDERS[0]!,
    storage_event_id: EVENT_ID,
  }
}

export function honestStore(f: Fixture): JsonObject {
  return {
    ok: true,
    object_id: f.oid,
    version: 1,
    kind: 'STORE',
    hash_commit: f.record.hash_commit,
    content_size: f.content.length,
    shard_ids: f.record.shards.map((s) => s.shard_id),
    replica_sets: Object.fromEntries(f.record.shards.map((s) => [s.shard_id, HOLDERS])),
    atr_cost: f.record.atr_cost,
    under_replicated: {},
    storage_event_id: EVENT_ID,
  }
}

export interface StubBehaviour {
  read?: (request: JsonObject) => ReadScript
  proof?: (request: JsonObject) => JsonObject
  /** Answer of a write, given its request, after the content was read to its END. */
  store?: (request: JsonObject, received: number) => JsonObject | Promise<JsonObject>
  /** A list page: the header's fields and the summaries. */
  list?: (
    request: JsonObject,
  ) =>
    | { next_cursor: JsonObject | null; objects: JsonObject[] }
    | Promise<{ next_cursor: JsonObject | null; objects: JsonObject[] }>
}

export interface StubNode {
  node: Libp2p
  /** Its multiaddr with /p2p/. */
  address: string
  behaviour: StubBehaviour
  close(): Promise<void>
}

/**
 * A libp2p node that speaks the public QFS protocols with whatever answers a test scripts: a
 * coordinator that lies. It checks nothing; the client under test must.
 */
export async function stubNode(index = 2000): Promise<StubNode> {
  const node = await createQfsLibp2p({
    privateKey: await testPeerKey(index),
    listen: ['/ip4/127.0.0.1/tcp/0'],
  })
  const behaviour: StubBehaviour = {}
  const serve = (run: (fs: FrameStream) => Promise<void>) => async (stream: Stream) => {
    const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, idleMs: 5_000 })
    try {
      await run(fs)
      await fs.finish()
    } catch (err) {
      fs.abort(err as Error)
    }
  }
  await node.handle(
    PROTOCOLS.read,
    serve(async (fs) => {
      const script = behaviour.read!(await fs.readJson())
      await fs.writeJson(script.header)
      for (const piece of script.data) {
        await script.pace?.()
        await fs.writeData(piece)
      }
      if (script.trailer !== null) await fs.writeJson(script.trailer)
    }),
  )
  await node.handle(
    PROTOCOLS.getProof,
    serve(async (fs) => {
      await fs.writeJson(behaviour.proof!(await fs.readJson()))
    }),
  )
  await node.handle(
    PROTOCOLS.write,
    serve(async (fs) => {
      const request = await fs.readJson()
      let received = 0
      for (;;) {
        const frame = await fs.read()
        if (frame.type === 'end') break
        if (frame.type === 'data') for (const c of frame.chunks) received += c.length
      }
      await fs.writeJson(await behaviour.store!(request, received))
    }),
  )
  await node.handle(
    PROTOCOLS.listObjects,
    serve(async (fs) => {
      const page = await behaviour.list!(await fs.readJson())
      await fs.writeJson({ ok: true, next_cursor: page.next_cursor, storage_event_id: EVENT_ID })
      for (const o of page.objects) await fs.writeJson(o)
      await fs.writeEnd()
    }),
  )
  const addr = node.getMultiaddrs()[0]!.toString()
  return {
    node,
    address: addr.includes('/p2p/') ? addr : `${addr}/p2p/${node.peerId.toString()}`,
    behaviour,
    close: async () => {
      await node.stop()
    },
  }
}
