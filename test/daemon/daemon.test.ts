import { access, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateContent } from '../../src/conformance/content.js'
import { toHex } from '../../src/core/bytes.js'
import { hashCommit } from '../../src/core/commit.js'
import { objectId } from '../../src/core/ids.js'
import { metadataSeed, normalizeMetadata } from '../../src/core/metadata.js'
import { type ConfigFlags, loadConfig } from '../../src/daemon/config.js'
import { type RunningNode, startNode } from '../../src/daemon/daemon.js'
import { dataPaths, type InitResult, initDataDir, readRunInfo } from '../../src/daemon/data-dir.js'
import { createLogger } from '../../src/daemon/logger.js'
import { readSnapshotFile, writeSnapshotFile } from '../../src/daemon/snapshot-file.js'
import { generateAuditKey } from '../../src/log/keys.js'
import { createSnapshot, type EpochSnapshot, signSnapshot } from '../../src/membership/snapshot.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { PROTOCOLS } from '../../src/net/protocols.js'

const authority = generateAuditKey(new Uint8Array(32).fill(7))
const silent = createLogger('silent')

async function configFor(dir: string, flags: ConfigFlags) {
  return loadConfig({
    dir,
    env: {},
    flags: {
      trusted_authorities: [toHex(authority.publicKey)],
      'limits.shutdown_timeout_ms': '3000',
      ...flags,
    },
  })
}

describe('daemon: three nodes on loopback', () => {
  let root: string
  const ids: InitResult[] = []
  const nodes: RunningNode[] = []

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'qfs-daemon-'))
    for (const name of ['a', 'b', 'c']) ids.push(await initDataDir(join(root, name)))
    // Ports are picked at start, so the snapshot is signed afterwards and loaded by a reload.
    for (const id of ids) {
      nodes.push(await startNode(await configFor(id.dir, { allow_no_snapshot: true }), { logger: silent }))
    }
  })

  afterAll(async () => {
    for (const n of nodes) await n.stop().catch(() => {})
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  })

  it('is not ready before a snapshot, and is after one is loaded', async () => {
    expect(nodes[0]!.readiness()).toEqual({ store: true, libp2p: true, snapshot: false, eligible: false })
    const ready = await fetch(`${nodes[0]!.apiUrl}/readyz`)
    expect(ready.status).toBe(503)
    expect(await (await fetch(`${nodes[0]!.apiUrl}/metrics`)).text()).toContain('\nqfs_epoch -1\n')

    const body = createSnapshot({
      epoch: 0,
      startTick: 0,
      nodes: nodes.map((n, i) => ({
        node_id: n.nodeId,
        multiaddrs: n.multiaddrs(),
        mldsa_public_key: ids[i]!.auditPublicKey,
      })),
      authorityPublicKey: authority.publicKey,
    })
    const snapshot = signSnapshot(body, authority)
    for (const n of nodes) {
      await writeSnapshotFile(n.config.snapshot, snapshot)
      expect(await n.reloadSnapshot()).toBe('adopted')
      expect(await n.reloadSnapshot()).toBe('unchanged')
      expect(n.readiness()).toEqual({ store: true, libp2p: true, snapshot: true, eligible: true })
    }
    const status = await (await fetch(`${nodes[1]!.apiUrl}/v1/status`)).json()
    expect(status).toMatchObject({
      node_id: nodes[1]!.nodeId,
      epoch: 0,
      snapshot_hash: snapshot.snapshot_hash,
      ready: true,
    })
    expect(await (await fetch(`${nodes[0]!.apiUrl}/metrics`)).text()).toContain('\nqfs_epoch 0\n')
    const run = await readRunInfo(ids[1]!.dir)
    expect(run).toMatchObject({ pid: process.pid, node_id: nodes[1]!.nodeId, api: nodes[1]!.apiUrl })
    expect(run?.multiaddrs).toEqual(nodes[1]!.multiaddrs())
    expect(run?.multiaddrs.length).toBeGreaterThan(0)
  })

  it('refuses a next epoch that changes the eligible node set (no handover yet)', async () => {
    const current = await readSnapshotFile(nodes[0]!.config.snapshot)
    const body = createSnapshot({
      epoch: 1,
      startTick: 86_400,
      nodes: nodes.slice(0, 2).map((n, i) => ({
        node_id: n.nodeId,
        multiaddrs: n.multiaddrs(),
        mldsa_public_key: ids[i]!.auditPublicKey,
      })),
      authorityPublicKey: authority.publicKey,
      previous: current as EpochSnapshot,
    })
    const shrunk = signSnapshot(body, authority)
    const path = join(root, 'shrunk.json')
    await writeSnapshotFile(path, shrunk)
    const n = nodes[0]!
    const saved = n.config.snapshot
    ;(n.config as { snapshot: string }).snapshot = path
    try {
      await expect(n.reloadSnapshot()).rejects.toMatchObject({ code: 'MEMBERSHIP_CHANGE_UNSUPPORTED' })
      expect(n.membership.current().epoch).toBe(0)
    } finally {
      ;(n.config as { snapshot: string }).snapshot = saved
    }
  })

  const oid = objectId('daemon-test', 'object-1')
  const content = generateContent({ sha3_stream: 'daemon-test', length: 700_000 })
  const metadata = { author_node_id: 'tester', created_at_tick: 5, tags: ['daemon'] }

  it('stores through one node and reads through another over libp2p', async () => {
    const put = await nodes[0]!.engine.putContent(oid, 1, content, metadata)
    expect(put).toMatchObject({ ok: true, under_replicated: {} })
    const expected = toHex(hashCommit(content, 1, metadataSeed(normalizeMetadata(metadata))))
    if (!put.ok) throw new Error('unreachable')
    expect(put.hash_commit).toBe(expected)
    const got = await nodes[1]!.engine.getContent(oid, 1)
    if (!got.ok) throw new Error(JSON.stringify(got))
    expect(Buffer.compare(got.content_bytes, content)).toBe(0)

    // Replicas served over the storage protocol show in the holders' metrics; libp2p's own too.
    const texts = await Promise.all(nodes.map(async (n) => (await fetch(`${n.apiUrl}/metrics`)).text()))
    expect(texts[0]).toContain('qfs_requests_total{op="write",outcome="ok"} 1')
    expect(texts[1]).toContain('qfs_requests_total{op="read",outcome="ok"} 1')
    // 700 KB: four shards of 175 KB, each staged alone on the replica channel (replica_stage).
    expect(texts.join('\n')).toMatch(/qfs_requests_total\{op="replica_stage",outcome="ok"\} [1-9]/)
    expect(texts[0]).toContain('libp2p_')
    expect(texts[0]).toMatch(/qfs_peers [1-9]/)
    // Every entry of the log, signed into a checkpoint or not yet.
    const head = nodes[0]!.local.log.head()
    expect(head.covered_entries).toBeLessThan(head.entries)
    expect(texts[0]).toContain(`\nqfs_log_entries ${head.entries}\n`)

    const listed = await (await fetch(`${nodes[2]!.apiUrl}/v1/objects?limit=10`)).json()
    expect(listed).toMatchObject({
      ok: true,
      objects: [{ object_id: oid, version: 1, hash_commit: expected }],
    })
  })

  it('counts the exchanges it refuses by protocol and code in its metrics', async () => {
    const client = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
    try {
      const stream = await client.dialProtocol(multiaddr(nodes[0]!.multiaddrs()[0]!), PROTOCOLS.write)
      // A frame of an unknown type where the write request belongs.
      stream.send(Uint8Array.of(0x01, 0x09))
      await stream.close().catch(() => {})
      const metric =
        'qfs_exchange_failures_total{protocol="/qfs/storage/write/1.0.0",code="UNKNOWN_MESSAGE"} 1'
      await expect
        .poll(async () => (await fetch(`${nodes[0]!.apiUrl}/metrics`)).text(), { timeout: 5_000 })
        .toContain(metric)
      // A replica exchange from a peer outside the snapshot is refused before it is read.
      const replica = await client.dialProtocol(
        multiaddr(nodes[0]!.multiaddrs()[0]!),
        PROTOCOLS.replicaRecord,
      )
      await replica.close().catch(() => {})
      await expect
        .poll(async () => (await fetch(`${nodes[0]!.apiUrl}/metrics`)).text(), { timeout: 5_000 })
        .toContain('qfs_request_errors_total{op="replica",code="NOT_ELIGIBLE"} 1')
    } finally {
      await client.stop()
    }
  })

  it('keeps its data across a stop and a restart from the same directory', async () => {
    const c = nodes[2]!
    const before = await c.local.store.stats()
    expect(before.shards).toBeGreaterThan(0)
    const listen = c.multiaddrs().map((a) => a.replace(/\/p2p\/.*$/, ''))
    await c.stop()
    await expect(access(dataPaths(ids[2]!.dir).run)).rejects.toThrow()
    // Stopping sealed the log: every entry is covered by a signed checkpoint.
    const sealed = c.local.log.head()
    expect(sealed.entries).toBeGreaterThan(0)
    expect(sealed.covered_entries).toBe(sealed.entries)

    const restarted = await startNode(await configFor(ids[2]!.dir, { listen }), { logger: silent })
    nodes[2] = restarted
    expect(restarted.local.log.head()).toEqual(sealed)
    expect(await restarted.local.log.verify()).toMatchObject({ ok: true })
    expect(await restarted.local.store.stats()).toEqual(before)
    expect(restarted.membership.latest?.epoch).toBe(0)
    const got = await restarted.engine.getContent(oid, 1)
    if (!got.ok) throw new Error(JSON.stringify(got))
    expect(Buffer.compare(got.content_bytes, content)).toBe(0)
    const viaA = await nodes[0]!.engine.getContent(oid)
    expect(viaA).toMatchObject({ ok: true, version: 1 })
  })

  it('lets a write in flight finish before it stops', async () => {
    const a = nodes[0]!
    const big = generateContent({ sha3_stream: 'in-flight', length: 3_000_000 })
    const oid2 = objectId('daemon-test', 'in-flight')
    const put = a.engine.putContent(oid2, 1, big, metadata)
    const stopped = a.stop()
    expect(a.readiness().store).toBe(false)
    // New streams are refused while the write drains: the protocols go before libp2p does.
    await expect.poll(() => a.libp2p.getProtocols().includes(PROTOCOLS.write), { interval: 10 }).toBe(false)
    expect(a.libp2p.status).toBe('started')
    expect(await put).toMatchObject({ ok: true, object_id: oid2 })
    await stopped
    expect(a.libp2p.status).toBe('stopped')
    const sealed = a.local.log.head()
    expect(sealed.covered_entries).toBe(sealed.entries)
    // The others still read what it wrote.
    const got = await nodes[1]!.engine.getContent(oid2, 1)
    if (!got.ok) throw new Error(JSON.stringify(got))
    expect(Buffer.compare(got.content_bytes, big)).toBe(0)
  })
})
