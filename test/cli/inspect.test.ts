import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { initDataDir } from '../../src/daemon/data-dir.js'
import { openLogSublevels, seqKey } from '../../src/log/log-store.js'
import { MiniNetwork } from '../../src/node/mini-network.js'
import { blockKey, decodeManifest, openNodeDb, type RootDb, storeSublevels } from '../../src/store/index.js'
import { testAuditKey } from '../engine/harness.js'
import { bytesOf, meta } from '../engine/suite.js'
import { runCli } from './run.js'

const NODES = ['node-1', 'node-2', 'node-3', 'node-4']

async function networkOnDisk(dir: string): Promise<MiniNetwork> {
  return MiniNetwork.create({ nodeIds: NODES, dir })
}

async function withDb<T>(dir: string, fn: (db: RootDb) => Promise<T>): Promise<T> {
  const db = (await openNodeDb(join(dir, 'db'))) as unknown as RootDb
  try {
    return await fn(db)
  } finally {
    await db.close()
  }
}

describe('offline node inspection: log verify, replay, scrub', () => {
  it('finds a clean node clean, names a tampered entry, and reads past a corrupt block', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qfs-inspect-'))
    let net = await networkOnDisk(dir)
    const oid = objectId('inspect', 'one')
    const content = bytesOf('inspect', 3 * 262_144 + 10)
    const put = await net.engine('node-1').putContent(oid, 1, content, meta(3))
    expect(put.ok).toBe(true)
    for (let v = 2; v <= 6; v++) {
      expect(
        (await net.engine('node-2').putContent(oid, v, bytesOf(`inspect-${v}`, 1000 * v), meta(3 + v))).ok,
      ).toBe(true)
    }
    await net.close()

    const node1 = join(dir, 'node-1')
    const clean = await runCli(['log', 'verify', '--dir', node1, '--json'])
    expect(clean.status).toBe(0)
    expect(JSON.parse(clean.stdout)).toMatchObject({ ok: true, first_bad_seq: null })
    const replay = await runCli(['replay', '--dir', node1, '--json'])
    expect(replay.status).toBe(0)
    const report = JSON.parse(replay.stdout)
    expect(report.equal).toBe(true)
    expect(report.live_state_hash).toBe(report.replayed_state_hash)
    // node-1 holds the versions its placement gave it; the text form states the same figures.
    const text = await runCli(['replay', '--dir', node1])
    expect(text.status).toBe(0)
    const m = report.live
    expect(text.stdout).toBe(
      `state of node-1 rebuilt from its log equals its store: ${m.objects} objects, ${m.versions} versions, ${m.shards} shards, ${m.bytes_stored} bytes (state ${report.live_state_hash})\n`,
    )
    expect(m.versions).toBeGreaterThan(0)
    expect((await runCli(['scrub', '--dir', node1])).status).toBe(0)

    // Corrupt one block of shard 0 on one of its holders, directly on disk.
    if (!put.ok) return
    const shard = put.shard_ids[0]!
    const holder = put.replica_sets[shard]![0]!
    const holderDir = join(dir, holder)
    await withDb(holderDir, async (db) => {
      const subs = storeSublevels(db)
      const m = decodeManifest((await subs.manifests.get(Buffer.from(shard, 'hex')))!)
      await subs.blocks.put(blockKey(m.stagingId, 0), new Uint8Array(262_144).fill(7))
    })
    const scrub = await runCli(['scrub', '--dir', holderDir, '--json'])
    expect(scrub.status).toBe(1)
    expect(JSON.parse(scrub.stdout).corrupt).toEqual([
      { shard_id: shard, object_id: oid, version: 1, blocks: [0] },
    ])

    // The read still succeeds: the holder refuses to serve the bad block and another replica does.
    net = await networkOnDisk(dir)
    const got = await net.engine(holder).getContent(oid, 1)
    expect(got.ok).toBe(true)
    if (got.ok) {
      expect(Buffer.from(got.content_bytes).equals(Buffer.from(content))).toBe(true)
      expect(got.proofs[0]!.served_by).not.toBe(holder)
    }
    await net.close()

    // Tamper with one stored log entry: verify fails at exactly that entry.
    const victim = join(dir, 'node-2')
    const seq = await withDb(victim, async (db) => {
      const { events } = openLogSublevels(db)
      const key = seqKey(3)
      const entry = JSON.parse((await events.get(key))!)
      entry.content_size = (entry.content_size ?? 0) + 1
      await events.put(key, JSON.stringify(entry))
      return 3
    })
    const broken = await runCli(['log', 'verify', '--dir', victim])
    expect(broken.status).toBe(1)
    expect(broken.stdout).toContain(`BROKEN at entry ${seq}`)

    // A store that lost an index entry its log still records: replay names both sides.
    await withDb(node1, async (db) => {
      const { index } = storeSublevels(db)
      for await (const key of index.keys({ limit: 1 })) await index.del(key)
    })
    const differs = await runCli(['replay', '--dir', node1])
    expect(differs.status).toBe(1)
    const lines = differs.stdout.split('\n')
    expect(lines[0]).toBe('state of node-1 rebuilt from its log DIFFERS from its store')
    expect(lines[1]).toContain(`${m.versions - 1} versions`)
    expect(lines[2]).toContain(`${m.versions} versions`)
  }, 60_000)

  it('refuses a directory that is not a node, and one whose node is running', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'qfs-inspect-empty-'))
    const r = await runCli(['replay', '--dir', empty])
    expect(r.status).toBe(3)
    expect(r.stderr).toBe(
      `error [NOT_A_NODE_DIR]: ${empty} has no node.json: run \`qfs-node init --dir ${empty}\` first\n`,
    )
    // A file is named as one: init would not help there.
    const file = join(empty, 'a-file')
    await writeFile(file, 'x')
    for (const args of [['replay'], ['scrub'], ['log', 'verify']]) {
      const f = await runCli([...args, '--dir', file])
      expect(f.stderr, args.join(' ')).toBe(
        `error [NOT_A_NODE_DIR]: ${file} is a file, not a node's data directory\n`,
      )
      expect(f.status).toBe(3)
    }
    // A FIFO in node.json's place is named, not waited on (a read of it waits for a writer).
    if (process.platform !== 'win32') {
      const fifoDir = join(empty, 'fifo-node')
      await mkdir(fifoDir)
      execFileSync('mkfifo', [join(fifoDir, 'node.json')])
      for (const args of [['replay'], ['scrub'], ['log', 'verify']]) {
        const f = await runCli([...args, '--dir', fifoDir])
        expect(f.stderr, args.join(' ')).toBe(
          `error [NOT_A_NODE_DIR]: ${join(fifoDir, 'node.json')} is not a regular file\n`,
        )
        expect(f.status).toBe(3)
      }
    }
    const dir = await mkdtemp(join(tmpdir(), 'qfs-inspect-busy-'))
    const net = await MiniNetwork.create({ nodeIds: NODES, dir, auditKey: testAuditKey })
    try {
      const busy = await runCli(['log', 'verify', '--dir', join(dir, 'node-1')])
      expect(busy.stderr).toMatch(/^error \[DATA_DIR_IN_USE\]/)
    } finally {
      await net.close()
    }
  })

  it('answers NO_DATABASE for a never-started node and creates nothing in its directory', async () => {
    const { dir } = await initDataDir(await mkdtemp(join(tmpdir(), 'qfs-inspect-fresh-')))
    const before = (await readdir(dir)).sort()
    for (const command of [['log', 'verify'], ['replay'], ['scrub']]) {
      const r = await runCli([...command, '--dir', dir])
      expect(r.status).toBe(3)
      expect(r.stdout).toBe('')
      expect(r.stderr).toBe(
        `error [NO_DATABASE]: ${dir} has no database to inspect: ${join(dir, 'db')} does not exist: the node has never been started\n`,
      )
    }
    expect((await readdir(dir)).sort()).toEqual(before)
    expect(existsSync(join(dir, 'db'))).toBe(false)
    // An empty db directory (no CURRENT) is no database either, and stays empty.
    await mkdir(join(dir, 'db'))
    const empty = await runCli(['log', 'verify', '--dir', dir])
    expect(empty.stderr).toMatch(/^error \[NO_DATABASE\]: .*holds no LevelDB database \(no CURRENT file\)\n$/)
    expect(await readdir(join(dir, 'db'))).toEqual([])
    await rm(dir, { recursive: true, force: true })
  })
})
