import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { computeShardLayout } from '../../src/core/shards.js'
import { meta } from '../engine/suite.js'
import { type Libp2pNetwork, libp2pHarness } from '../net/harness.js'
import { nodeAddress } from '../sdk/harness.js'
import { type Fixture, fixture, honestProof, honestRead, type StubNode, stubNode } from '../sdk/stub.js'
import { runCli } from './run.js'

/**
 * `proof --confirm-with`: a `hash_commit` binds content and metadata but not the shards' Merkle
 * roots, so a node can send the true `hash_commit` in a record whose roots it made up, with a proof
 * of a block of its own making that verifies against them. The other nodes' records tell.
 */
describe('qfs-node proof --confirm-with', () => {
  let net: Libp2pNetwork
  let stub: StubNode
  const f = fixture('cli-proof-confirm', 3000)
  /** f's record with the true hash_commit, but every shard's layout from other bytes. */
  const forged: Fixture = (() => {
    const content = new Uint8Array(f.content.length).fill(0x5a)
    const layout = computeShardLayout(content, DEFAULT_PARAMS)
    const shards = f.record.shards.map((s, i) => ({ ...s, merkle_root: toHex(layout[i]!.merkleRoot) }))
    return { ...f, content, layout, record: { ...f.record, shards } }
  })()
  const shard = f.record.shards[0]!.shard_id
  const addr = (i: number) => nodeAddress(net, net.nodeIds[i]!)
  const confirmWith = () => [1, 2, 3].flatMap((i) => ['--confirm-with', addr(i)])
  const proof = (node: string, ...extra: string[]) =>
    runCli([
      'proof',
      f.oid,
      '--version',
      '1',
      '--shard',
      shard,
      '--leaf',
      '0',
      '--node',
      node,
      '--omit-block',
      ...extra,
    ])

  beforeAll(async () => {
    net = await libp2pHarness(5)
    // The network decides f's content: the same hash_commit as the forged record.
    const put = await net.engine(net.nodeIds[0]!).putContent(f.oid, 1, f.content, meta(7))
    expect(put).toMatchObject({ ok: true, hash_commit: f.record.hash_commit })
    stub = await stubNode(2097)
    stub.behaviour.read = () => honestRead(forged)
    stub.behaviour.proof = () => honestProof(forged, 0, 0)
  }, 60_000)
  afterAll(async () => {
    await stub?.close()
    await net?.close()
  })

  it('without it, the made-up roots and their proof verify (what the flag is for)', async () => {
    const r = await proof(stub.address)
    expect(r.status).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({
      verified: true,
      proof: { merkle_root: forged.record.shards[0]!.merkle_root },
    })
    expect(forged.record.shards[0]!.merkle_root).not.toBe(f.record.shards[0]!.merkle_root)
  })

  it('with it, the record is not confirmed: verified false, NOT_CONFIRMED, each node naming the shards as differing', async () => {
    const r = await proof(stub.address, ...confirmWith())
    expect(r.status).toBe(1)
    const out = JSON.parse(r.stdout)
    expect(out.verified).toBe(false)
    expect(out.reason).toMatch(/^NOT_CONFIRMED: /)
    expect(out.confirmation).toMatchObject({
      confirmed: false,
      agreeing: 0,
      asked: [1, 2, 3].map((i) => net.nodeIds[i]),
    })
    for (const answer of out.confirmation.answers) {
      expect(answer.hash_commit).toBe(f.record.hash_commit)
      expect(answer.differs).toContain('shards')
    }
  })

  it('through an honest node, the decided record is confirmed by all three', async () => {
    const r = await proof(addr(4), ...confirmWith())
    expect(r.status).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out).toMatchObject({ verified: true, proof: { merkle_root: f.record.shards[0]!.merkle_root } })
    expect(out.confirmation).toEqual({
      confirmed: true,
      agreeing: 3,
      asked: [1, 2, 3].map((i) => net.nodeIds[i]),
      answers: [1, 2, 3].map(() => ({ hash_commit: f.record.hash_commit })),
    })
  })

  it('refuses the --node itself among the nodes asked, before any dial (exit 2)', async () => {
    const r = await proof(addr(4), '--confirm-with', addr(4))
    expect(r.status).toBe(2)
    expect(r.stderr).toContain('the --node one')
  })
})
