/**
 * docs/protocol.md section 2 names the deepest message a node sends, to show how far MAX_JSON_DEPTH
 * (32) is from what honest peers need. Depth is measured here on real messages, with an oracle that
 * counts the nesting of the parsed value, not the frame codec's byte scan.
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { objectId } from '../../src/core/ids.js'
import type { VersionRecord } from '../../src/core/record.js'
import { generateAuditKey } from '../../src/log/keys.js'
import { createSnapshot, signSnapshot } from '../../src/membership/snapshot.js'
import { MAX_JSON_DEPTH } from '../../src/net/frames.js'
import { inProcessHarness } from '../engine/harness.js'

/** Levels of `[` and `{`, the top-level object being level 1. */
function depth(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0
  const children = Array.isArray(value) ? value : Object.values(value)
  return 1 + Math.max(0, ...children.map(depth))
}

describe('the deepest messages (docs/protocol.md section 2)', () => {
  let record: VersionRecord
  let close: () => Promise<void>
  beforeAll(async () => {
    const h = await inProcessHarness(4)
    close = () => h.close()
    const oid = objectId('depth', 'one')
    const put = await h.engine(h.nodeIds[0]!).putContent(oid, 1, new Uint8Array(10), {
      author_node_id: 'a',
      created_at_tick: 1,
      tags: ['t'],
      aegis_telemetry_stub: { node_id: 'n', proof_result: 'PASS', latency_band: 1, at_epoch: 1 },
    })
    expect(put.ok).toBe(true)
    record = (await h.net.node(h.nodeIds[1]!).service.getRecord(oid, 1))!
  })
  afterAll(async () => {
    await close?.()
  })

  it('replica/commit on its own stream is 5 levels: request, record, shards, a shard, its replicas', () => {
    expect(depth({ record, staged: [{ shard_id: 'x', staging_id: 'y' }] })).toBe(5)
  })

  it('on the replica channel, a commit request and a record reply are 6: the envelope adds one', async () => {
    expect(depth({ id: 1, op: 'commit', body: { record, staged: [] } })).toBe(6)
    expect(depth({ id: 1, ok: true, body: { record }, data: false })).toBe(6)
  })

  it('a snapshot reply on the channel is 6 too: envelope, body, snapshot, nodes, a node, its multiaddrs', async () => {
    const key = generateAuditKey(new Uint8Array(32).fill(1))
    const peer = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(1)))
    const snapshot = signSnapshot(
      createSnapshot({
        epoch: 0,
        startTick: 0,
        nodes: [
          {
            node_id: peer.toString(),
            multiaddrs: ['/ip4/127.0.0.1/tcp/1'],
            mldsa_public_key: toHex(key.publicKey),
          },
        ],
        authorityPublicKey: toHex(key.publicKey),
      }),
      key,
    )
    expect(depth({ id: 1, ok: true, body: { snapshot }, data: false })).toBe(6)
  })

  it('leaves MAX_JSON_DEPTH far above them', () => {
    expect(MAX_JSON_DEPTH).toBe(32)
  })
})
