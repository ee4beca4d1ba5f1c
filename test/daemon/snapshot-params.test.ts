import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { DEFAULT_PARAMS, MAX_SAFE, type ProtocolParams } from '../../src/core/params.js'
import { type RunningNode, startNode } from '../../src/daemon/daemon.js'
import { createLogger } from '../../src/daemon/logger.js'
import {
  loadInitialSnapshot,
  MAX_SERVABLE_BLOCK_BYTES,
  reloadSnapshot,
} from '../../src/daemon/snapshot-adoption.js'
import { writeSnapshotFile } from '../../src/daemon/snapshot-file.js'
import { SnapshotMembership } from '../../src/membership/snapshot-membership.js'
import { encodeJsonFrame, type JsonObject, MAX_DATA_BYTES } from '../../src/net/frames.js'
import {
  authority,
  capturingLogger,
  configOf,
  type Member,
  members,
  removeRoot,
  signed,
} from './snapshot-fixture.js'

// A storage proof carries its block, base64, in one JSON frame of at most 1 MiB (replica/prove,
// get_proof). params allow block_size_bytes up to 64 MiB, so a node refuses a snapshot whose blocks
// it could store and read but never prove (PARAMS_UNSUPPORTED) instead of failing every remote proof.

const withBlock = (blockSizeBytes: number): ProtocolParams => ({ ...DEFAULT_PARAMS, blockSizeBytes })

/** The largest proof answers a node sends for a block of `n` bytes: every other field at its widest. */
function widestProofAnswers(n: number): JsonObject[] {
  const id = 'f'.repeat(64)
  const proof = {
    object_id: id,
    version: MAX_SAFE,
    shard_id: id,
    leaf_index: 0xffff_fffe,
    leaf_count: 0xffff_ffff,
    block: Buffer.alloc(n, 0xab).toString('base64'),
    leaf_hash: id,
    audit_path: Array.from({ length: 32 }, () => id),
    merkle_root: id,
  }
  const nodeId = 'Q'.repeat(128)
  return [
    // replica/rpc `prove` reply.
    { id: 0xffff_ffff, ok: true, body: { proof }, data: false },
    // The public get_proof answer, with the most replicas params allow.
    {
      ok: true,
      object_id: id,
      version: MAX_SAFE,
      shard_id: id,
      merkle_root: id,
      proof,
      assigned_nodes: Array.from({ length: 64 }, () => nodeId),
      answered_by: nodeId,
      storage_event_id: id,
    },
  ]
}

describe('the largest block a node serves', () => {
  it('is the largest whose widest proof answers fit one JSON frame, with room to spare', () => {
    expect(MAX_SERVABLE_BLOCK_BYTES).toBe(737_280)
    for (const answer of widestProofAnswers(MAX_SERVABLE_BLOCK_BYTES))
      expect(() => encodeJsonFrame(answer)).not.toThrow()
    // The bound is about the frame, not a guess: three quarters of a frame of base64 no longer fits.
    const beyond = (MAX_DATA_BYTES / 4) * 3
    for (const answer of widestProofAnswers(beyond)) {
      expect(() => encodeJsonFrame(answer)).toThrow(expect.objectContaining({ code: 'FRAME_TOO_LARGE' }))
    }
  })
})

describe('a node refuses a snapshot whose blocks it cannot prove', () => {
  let root = ''
  let ms: Member[] = []
  beforeAll(async () => {
    ;({ root, members: ms } = await members('snapshot-params', 1))
  })
  afterAll(() => removeRoot(root))

  it('at start: PARAMS_UNSUPPORTED saying why; the largest servable block is taken', async () => {
    const config = await configOf(ms[0]!)
    const entries = ms.map((m) => m.entry)
    await writeSnapshotFile(config.snapshot, signed(0, entries, { params: withBlock(1_048_576) }))
    const m = new SnapshotMembership({ trustedKeys: [authority.publicKey] })
    const err = await loadInitialSnapshot(config, m, capturingLogger().logger).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'PARAMS_UNSUPPORTED' })
    expect((err as Error).message).toContain('block_size_bytes 1048576 is more than 737280')
    expect(m.latest).toBeUndefined()

    const e0 = signed(0, entries, { params: withBlock(MAX_SERVABLE_BLOCK_BYTES) })
    await writeSnapshotFile(config.snapshot, e0)
    await loadInitialSnapshot(config, m, capturingLogger().logger)
    expect(m.current().params.blockSizeBytes).toBe(MAX_SERVABLE_BLOCK_BYTES)

    // On reload too, and before PARAMS_CHANGED, whose advice (restart) would not help.
    await writeSnapshotFile(
      config.snapshot,
      signed(1, entries, { previous: e0, params: withBlock(MAX_SERVABLE_BLOCK_BYTES + 1) }),
    )
    await expect(
      reloadSnapshot(config, m, withBlock(MAX_SERVABLE_BLOCK_BYTES), capturingLogger().logger),
    ).rejects.toMatchObject({ code: 'PARAMS_UNSUPPORTED' })
    expect(m.current().epoch).toBe(0)
  })
})

describe('a block of the largest servable size is proved by a node that does not hold it', () => {
  let root = ''
  let ms: Member[] = []
  const nodes: RunningNode[] = []
  // One shard of one block, on 3 of 4 nodes: the fourth must fetch the proof over the wire.
  const params: ProtocolParams = { ...withBlock(MAX_SERVABLE_BLOCK_BYTES), numShardsPerObject: 1 }

  beforeAll(async () => {
    ;({ root, members: ms } = await members('snapshot-params-e2e', 4))
    const snapshot = signed(
      0,
      ms.map((m) => m.entry),
      { params },
    )
    for (const m of ms) {
      const config = await configOf(m)
      await writeSnapshotFile(config.snapshot, snapshot)
      nodes.push(await startNode(config, { logger: createLogger('silent') }))
    }
  })
  afterAll(async () => {
    for (const n of nodes) await n.stop().catch(() => {})
    await removeRoot(root)
  })

  it('answers the proof from a replica', async () => {
    const oid = objectId('snapshot-params', 'largest-block')
    const content = new Uint8Array(MAX_SERVABLE_BLOCK_BYTES).map((_, i) => (i * 7) & 0xff)
    const put = await nodes[0]!.engine.putContent(oid, 1, content, {
      author_node_id: 't',
      created_at_tick: 1,
    })
    if (!put.ok) throw new Error(JSON.stringify(put))
    const [shardId, holders] = Object.entries(put.replica_sets)[0]!
    const outsider = nodes.find((n) => !holders.includes(n.nodeId))!
    const proof = await outsider.engine.getStorageProof(oid, 1, shardId, { leafIndex: 0 })
    expect(proof).toMatchObject({ ok: true, proof: { leaf_index: 0, leaf_count: 1 } })
  })
})
