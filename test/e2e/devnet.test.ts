import { createCipheriv, createHash } from 'node:crypto'
import { join } from 'node:path'
import type { Libp2p } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { EligibleSet } from '../../src/core/placement.js'
import { verifyStorageProof } from '../../src/core/proof.js'
import type { VersionRecord } from '../../src/core/record.js'
import type { Devnet } from '../../src/daemon/devnet.js'
import type { QfsClient } from '../../src/sdk/index.js'
import { startDevnetWithClients, stopDevnetWithClients } from './devnet-clients.js'

/**
 * The whole stack across processes: five `qfs-node start` daemons (the compiled dist, as a user runs
 * them) brought up by the devnet code, written to and read from through the SDK over real TCP, one
 * daemon SIGKILLed and later restarted on its directory. Run after `npm run build`.
 */

const MIB = 1024 * 1024
const SIZES = [0, 1, 5 * MIB, 64 * MIB]
const META = { author_node_id: 'e2e', created_at_tick: 1 }

/** Deterministic incompressible bytes: AES-256-CTR keystream under a key derived from `label`. */
function content(label: string, size: number): Uint8Array {
  const key = createHash('sha256').update(`qfs-e2e:${label}`).digest()
  return new Uint8Array(createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size)))
}

function expectOk<T extends { ok: boolean }>(r: T): asserts r is Extract<T, { ok: true }> {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r).slice(0, 600)}`)
}

interface Stored {
  size: number
  oid: string
  bytes: Uint8Array
  record: VersionRecord
}

describe('devnet: five daemons as processes, one killed and restarted', () => {
  let dir: string
  let devnet: Devnet
  let libp2p: Libp2p
  const clients = new Map<string, QfsClient>()
  const stored: Stored[] = []
  let victim: { index: number; nodeId: string }
  const client = (nodeId: string) => clients.get(nodeId)!
  const nodeIds = () => devnet.plan.nodes.map((n) => n.nodeId)

  beforeAll(async () => {
    ;({ dir, devnet, libp2p } = await startDevnetWithClients('qfs-e2e-devnet-', clients))
  }, 90_000)

  afterAll(async () => {
    await stopDevnetWithClients({ dir, devnet, libp2p }, clients)
  }, 60_000)

  it('lists every ready node in devnet.json, each on its own directory and loopback port', async () => {
    const info = devnet.nodes
    expect(info).toHaveLength(5)
    expect(new Set(info.map((n) => n.node_id)).size).toBe(5)
    for (const [i, n] of info.entries()) {
      expect(n.dir).toBe(join(dir, `node-${i + 1}`))
      expect(n.multiaddrs[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)
      expect(n.api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    }
    for (const n of info) {
      const health = await fetch(`${n.api}/healthz`)
      expect(health.status).toBe(200)
    }
  })

  it('serves a get through a holder that is no home without asking a home, once every home took the write', async () => {
    // The daemon shares one set of decided records between the node service, whose commit as a
    // holder saw every home's acceptance, and the engine serving the read (docs/consistency.md).
    const eligible = new EligibleSet(nodeIds())
    const placed = (i: number) => {
      const oid = objectId('e2e-decided', `o-${i}`)
      const homes = eligible.catalogueHomes(oid, 3)
      const holders = [0, 1, 2, 3].flatMap((k) => eligible.place(shardId(oid, 1, k), 3).selected)
      return { oid, homes, holder: holders.find((n) => !homes.includes(n)) }
    }
    let p = placed(0)
    for (let i = 1; p.holder === undefined; i++) p = placed(i)
    const writer = p.homes[0]!
    const answer = await client(writer).putContent(p.oid, 1, content('decided', 3000), META)
    expectOk(answer)
    expect(Object.values(answer.replica_sets).flat()).toContain(p.holder)
    const lookups = async () => {
      let n = 0
      for (const home of p.homes) {
        const api = devnet.nodes.find((x) => x.node_id === home)!.api
        const text = await (await fetch(`${api}/metrics`)).text()
        for (const m of text.matchAll(/^qfs_requests_total\{op="replica_record",[^}]*\} (\d+)$/gm))
          n += Number(m[1])
      }
      return n
    }
    const before = await lookups()
    const got = await client(p.holder!).getContent(p.oid, 1)
    expectOk(got)
    expect(Buffer.from(got.content_bytes).equals(Buffer.from(content('decided', 3000)))).toBe(true)
    expect(await lookups()).toBe(before)
    // The counter does count lookups: a home that did not coordinate the write asks the others.
    expectOk(await client(p.homes[1]!).getContent(p.oid, 1))
    expect(await lookups()).toBeGreaterThanOrEqual(before + 2)
  })

  it('stores 0 B, 1 B, 5 MiB and 64 MiB through one node', async () => {
    const coordinator = client(devnet.nodes[0]!.node_id)
    for (const size of SIZES) {
      const bytes = content(`object-${size}`, size)
      const oid = objectId('e2e', `object-${size}`)
      const put = await coordinator.putContent(oid, 1, bytes, META)
      expectOk(put)
      expect(put.content_size).toBe(size)
      expect(put.under_replicated).toEqual({})
      const record = await coordinator.getRecord(oid, 1)
      if ('error_code' in record) throw new Error(JSON.stringify(record))
      expect(record.hash_commit).toBe(put.hash_commit)
      stored.push({ size, oid, bytes, record })
    }
    // The node to kill: not the writer, holding as many shards as any other (so it matters).
    const held = (id: string) =>
      stored.reduce((n, s) => n + s.record.shards.filter((d) => d.replicas.includes(id)).length, 0)
    const candidates = nodeIds().slice(1)
    const nodeId = candidates.reduce((best, id) => (held(id) > held(best) ? id : best), candidates[0]!)
    victim = { index: nodeIds().indexOf(nodeId) + 1, nodeId }
    expect(held(nodeId)).toBeGreaterThan(0)
  }, 120_000)

  it('reads every object back byte-identical through each surviving node after one is SIGKILLed', async () => {
    const exit = await devnet.kill(victim.index, 'SIGKILL')
    expect(exit.signal).toBe('SIGKILL')
    expect(devnet.running(victim.index)).toBe(false)
    const down = await client(victim.nodeId).getContent(stored[1]!.oid, 1)
    expect(down).toMatchObject({ ok: false, code: 'NODE_UNAVAILABLE' })
    const survivors = nodeIds().filter((id) => id !== victim.nodeId)
    for (const s of stored) {
      for (const reader of survivors) {
        const read = await client(reader).getContent(s.oid, 1)
        expectOk(read)
        expect(read.content_bytes.length).toBe(s.size)
        expect(Buffer.compare(Buffer.from(read.content_bytes), Buffer.from(s.bytes))).toBe(0)
        expect(read.hash_commit).toBe(s.record.hash_commit)
        // No shard was served by the dead node.
        for (const p of read.proofs) expect(p.served_by).not.toBe(victim.nodeId)
      }
    }
  }, 120_000)

  it('answers get_proof for every shard through the survivors, each verified with the core', async () => {
    const survivors = nodeIds().filter((id) => id !== victim.nodeId)
    let checked = 0
    for (const s of stored) {
      for (const shard of s.record.shards) {
        const via = client(survivors[(checked + shard.shard_index) % survivors.length]!)
        if (shard.leaf_count === 0) {
          const empty = await via.getStorageProof(s.oid, 1, shard.shard_id)
          expect(empty).toMatchObject({ ok: false, code: 'EMPTY_SHARD' })
          continue
        }
        // The epoch's challenge, then the last leaf explicitly.
        for (const leafIndex of [undefined, shard.leaf_count - 1]) {
          const answer = await via.fetchStorageProof(s.oid, 1, shard.shard_id, { leafIndex })
          expectOk(answer)
          expect(answer.answered_by).not.toBe(victim.nodeId)
          expect(shard.replicas).toContain(answer.answered_by)
          const verdict = verifyStorageProof(answer.proof, {
            merkleRoot: shard.merkle_root,
            shardId: shard.shard_id,
            leafIndex: leafIndex ?? answer.proof.leaf_index,
          })
          expect(verdict).toEqual({ ok: true })
          checked++
        }
      }
    }
    expect(checked).toBeGreaterThan(0)
  }, 60_000)

  it('serves again once restarted on the same directory: reads through it, proofs for the shards it holds', async () => {
    const before = devnet.plan.nodes[victim.index - 1]!
    const info = await devnet.restart(victim.index)
    expect(info.node_id).toBe(victim.nodeId)
    expect(info.multiaddrs[0]).toContain(`/tcp/${before.tcpPort}/`)
    const restarted = client(victim.nodeId)
    for (const s of stored) {
      const read = await restarted.getContent(s.oid, 1)
      expectOk(read)
      expect(Buffer.compare(Buffer.from(read.content_bytes), Buffer.from(s.bytes))).toBe(0)
    }
    let answered = 0
    for (const s of stored) {
      for (const shard of s.record.shards) {
        if (shard.leaf_count === 0 || !shard.replicas.includes(victim.nodeId)) continue
        const answer = await restarted.getStorageProof(s.oid, 1, shard.shard_id, { leafIndex: 0 })
        expectOk(answer)
        // A coordinator proves from its own store first: the restarted node answered from its disk.
        expect(answer.answered_by).toBe(victim.nodeId)
        const verdict = verifyStorageProof(answer.proof, {
          merkleRoot: shard.merkle_root,
          shardId: shard.shard_id,
          leafIndex: 0,
        })
        expect(verdict).toEqual({ ok: true })
        answered++
      }
    }
    expect(answered).toBeGreaterThan(0)
  }, 90_000)
})
