import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_AUTHOR } from '../../src/cli/commands/put.js'
import type { CliIo } from '../../src/cli/io.js'
import { main } from '../../src/cli/main.js'
import { toHex } from '../../src/core/bytes.js'
import { hashCommit } from '../../src/core/commit.js'
import { objectId, shardId } from '../../src/core/ids.js'
import { metadataSeed, normalizeMetadata } from '../../src/core/metadata.js'
import { verifyStorageProof } from '../../src/core/proof.js'
import { bytesOf } from '../engine/suite.js'
import { type Libp2pNetwork, libp2pHarness, testPeerKey } from '../net/harness.js'
import { nodeAddress } from '../sdk/harness.js'
import { fixture, honestProof, honestRead, type StubNode, stubNode } from '../sdk/stub.js'
import { runCli } from './run.js'

const MIB = 1024 * 1024

/** What `get` streams into before the content verified (`.<name>.<random>.partial` beside FILE). */
async function temporaryFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith('.partial'))
}

async function runTty(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const io: CliIo = { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), isTty: true }
  return { status: await main(args, io), stdout, stderr }
}

describe('qfs-node put / get / proof / ls against a libp2p network', () => {
  let net: Libp2pNetwork
  let dir: string
  let addr: (i: number) => string
  const v1 = bytesOf('cli-file-v1', 2 * MIB + 517)
  const v2 = bytesOf('cli-file-v2', 5 * MIB + 3)
  const oid = objectId('cli', 'file-1')

  beforeAll(async () => {
    net = await libp2pHarness(4)
    addr = (i) => nodeAddress(net, net.nodeIds[i]!)
    dir = await mkdtemp(join(tmpdir(), 'qfs-cli-'))
    await writeFile(join(dir, 'v1.bin'), v1)
    await writeFile(join(dir, 'v2.bin'), v2)
  })
  afterAll(async () => {
    await net?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('puts a file as latest + 1, with the hash_commit the core computes', async () => {
    const r = await runCli([
      'put',
      join(dir, 'v1.bin'),
      '--node',
      addr(0),
      '--namespace',
      'cli',
      '--id',
      'file-1',
      '--tag',
      'Photo',
    ])
    // JSON is the default output of put.
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    const put = JSON.parse(r.stdout)
    // Author defaults to a fixed name (not the node written through), created_at_tick to 0.
    const metadata = normalizeMetadata({
      author_node_id: DEFAULT_AUTHOR,
      created_at_tick: 0,
      tags: ['Photo'],
    })
    expect(put).toMatchObject({
      object_id: oid,
      version: 1,
      hash_commit: toHex(hashCommit(v1, 1, metadataSeed(metadata))),
      shard_ids: [0, 1, 2, 3].map((i) => shardId(oid, 1, i)),
      atr_cost: expect.stringMatching(/^\d+\.\d{18}$/),
      storage_event_id: expect.stringMatching(/^[0-9a-f]{64}$/),
      under_replicated: {},
    })
    for (const id of put.shard_ids) expect(put.replica_sets[id]).toHaveLength(3)

    const second = await runTty([
      'put',
      join(dir, 'v2.bin'),
      '--node',
      addr(1),
      '--namespace',
      'cli',
      '--id',
      'file-1',
      '--author',
      'me',
      '--tick',
      '42',
      '--text',
    ])
    expect(second.status).toBe(0)
    expect(second.stdout).toContain(`stored ${oid} v2 (UPDATE, ${v2.length} bytes)`)
    // A 5 MiB upload on a terminal draws a bar on stderr, ending at 100%.
    expect(second.stderr).toContain('\r')
    expect(second.stderr).toMatch(/100% 5\.0\/5\.0 MiB\n$/)
  })

  it('gets byte-identical content through a file, verified, with no temporary file left', async () => {
    const out = join(dir, 'out-v2.bin')
    const r = await runCli(['get', oid, '--node', addr(3), '-o', out, '--json'])
    expect(r.status).toBe(0)
    expect(Buffer.from(await readFile(out)).equals(v2)).toBe(true)
    expect(await temporaryFiles(dir)).toEqual([])
    expect(JSON.parse(r.stdout)).toMatchObject({
      object_id: oid,
      version: 2,
      content_size: v2.length,
      file: out,
      metadata: { author_node_id: 'me', created_at_tick: 42 },
    })
    const old = join(dir, 'out-v1.bin')
    const first = await runCli(['get', oid, '--version', '1', '--node', addr(2), '-o', old])
    expect(first.status).toBe(0)
    expect(first.stdout).toContain('verified')
    expect(Buffer.from(await readFile(old)).equals(v1)).toBe(true)
    // Nothing is drawn when stdout is not a terminal.
    expect(first.stderr).toBe('')
  })

  it('prints a proof verified on the client, for the challenge and for a chosen leaf', async () => {
    for (const i of [0, 3]) {
      const shard = shardId(oid, 1, i)
      const r = await runCli(['proof', oid, '--version', '1', '--shard', shard, '--node', addr(1)])
      expect(r.status).toBe(0)
      const out = JSON.parse(r.stdout)
      expect(out.verified).toBe(true)
      expect(out.proof.shard_id).toBe(shard)
    }
    const chosenArgs = [
      'proof',
      oid,
      '--version',
      '2',
      '--shard',
      shardId(oid, 2, 0),
      '--node',
      addr(0),
      '--leaf',
      '2',
    ]
    const chosen = await runCli(chosenArgs)
    expect(chosen.status).toBe(0)
    const { proof } = JSON.parse(chosen.stdout)
    expect(proof.leaf_index).toBe(2)
    expect(verifyStorageProof(proof, { merkleRoot: proof.merkle_root, shardId: shardId(oid, 2, 0) })).toEqual(
      { ok: true },
    )
    // --omit-block: the same verified proof, its block replaced by the block's length.
    const brief = await runCli([...chosenArgs, '--omit-block'])
    expect(brief.status).toBe(0)
    const short = JSON.parse(brief.stdout)
    const { block, ...rest } = proof
    expect(short).toEqual({
      verified: true,
      proof: { ...rest, block_bytes: Buffer.from(block, 'base64').length },
    })
    expect(short.proof.block_bytes).toBeGreaterThan(0)
    const outside = await runCli([
      'proof',
      oid,
      '--version',
      '1',
      '--shard',
      shardId(oid, 1, 0),
      '--node',
      addr(0),
      '--leaf',
      '99',
    ])
    expect(outside.status).toBe(2)
    expect(outside.stderr).toMatch(/^error \[INVALID_INPUT\]/)
  })

  it('lists as JSON lines, one document, or a table, and follows cursors with --all', async () => {
    const lines = await runCli(['ls', '--node', addr(2), '--prefix', oid])
    expect(lines.status).toBe(0)
    const parsed = lines.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(parsed.map((o) => [o.object_id, o.version, o.kind])).toEqual([
      [oid, 1, 'STORE'],
      [oid, 2, 'UPDATE'],
    ])
    const doc = await runCli(['ls', '--node', addr(2), '--prefix', oid, '--json', '--limit', '1'])
    expect(doc.status).toBe(0)
    expect(JSON.parse(doc.stdout)).toMatchObject({
      objects: [{ object_id: oid, version: 1 }],
      next_cursor: { object_id: oid, version: 1 },
    })
    const all = await runCli(['ls', '--node', addr(2), '--prefix', oid, '--json', '--limit', '1', '--all'])
    expect(JSON.parse(all.stdout)).toMatchObject({
      objects: [{ version: 1 }, { version: 2 }],
      next_cursor: null,
    })
    const page = await runCli([
      'ls',
      '--node',
      addr(2),
      '--prefix',
      oid,
      '--limit',
      '1',
      '--after',
      `${oid}:1`,
      '--json',
    ])
    expect(JSON.parse(page.stdout).objects.map((o: { version: number }) => o.version)).toEqual([2])
    const table = await runTty(['ls', '--node', addr(1), '--tag', 'photo'])
    expect(table.status).toBe(0)
    const rows = table.stdout.trim().split('\n')
    expect(rows[0]).toMatch(/^OBJECT_ID\s+VERSION\s+KIND\s+SIZE\s+TICK\s+AUTHOR\s+TAGS$/)
    expect(rows.slice(1).map((r) => r.split(/\s+/).slice(0, 3))).toEqual([[oid, '1', 'STORE']])
    const more = await runTty(['ls', '--node', addr(1), '--prefix', oid, '--limit', '1'])
    expect(more.stderr).toBe(`more: --after ${oid}:1\n`)
  })

  it('answers bad arguments with exit 2 and one error line, before dialling anything', async () => {
    const file = join(dir, 'v1.bin')
    const put = (extra: string[], node = addr(0)) =>
      runCli(['put', file, '--node', node, '--namespace', 'n', '--id', 'i', ...extra])
    const cases: Array<[Promise<{ status: number; stdout: string; stderr: string }>, RegExp]> = [
      [put([], 'not-a-multiaddr'), /^error \[INVALID_ARGUMENT\]: --node: /],
      [put([], '/ip4/127.0.0.1/tcp/4001'), /^error \[INVALID_ARGUMENT\]: --node: .*\/p2p\//],
      [put(['--version', '0']), /^error \[INVALID_ARGUMENT\]: --version/],
      [put(['--version', 'abc']), /^error \[INVALID_ARGUMENT\]: --version/],
      [put(['--tick', '-1']), /^error \[INVALID_ARGUMENT\]: --tick/],
      [put(['--tag', 'x'.repeat(65)]), /^error \[INVALID_METADATA\]/],
      [
        runCli(['put', join(dir, 'missing.bin'), '--node', addr(0), '--namespace', 'n', '--id', 'i']),
        /^error \[INVALID_ARGUMENT\]: cannot read .*ENOENT/,
      ],
      [
        runCli(['put', dir, '--node', addr(0), '--namespace', 'n', '--id', 'i']),
        /^error \[INVALID_ARGUMENT\]: .* is not a regular file/,
      ],
      [
        runCli(['get', 'XYZ', '--node', addr(0), '-o', join(dir, 'x')]),
        /^error \[INVALID_ARGUMENT\]: OBJECT_ID/,
      ],
      [
        runCli(['get', oid, '--node', addr(0), '-o', join(dir, 'x'), '--version', '1.5']),
        /^error \[INVALID_ARGUMENT\]: --version/,
      ],
      [
        runCli(['proof', oid, '--version', '1', '--shard', 'nope', '--node', addr(0)]),
        /^error \[INVALID_ARGUMENT\]: --shard/,
      ],
      [runCli(['ls', '--node', addr(0), '--after', 'x:1']), /^error \[INVALID_ARGUMENT\]: --after/],
      [runCli(['ls', '--node', addr(0), '--limit', '1001']), /^error \[INVALID_ARGUMENT\]: --limit/],
      [runCli(['ls', '--node', addr(0), '--prefix', 'ABC']), /^error \[INVALID_ARGUMENT\]: --prefix/],
      [runCli(['proof', oid, '--version', '1', '--node', addr(0)]), /required option '--shard/],
    ]
    for (const [run, message] of cases) {
      const r = await run
      expect(r.status, r.stderr).toBe(2)
      expect(r.stderr).toMatch(message)
      expect(r.stderr).not.toMatch(/\n\s+at /)
      expect(r.stdout).toBe('')
    }
  })

  it('answers exit 2 when the node refuses the version asked for (a gap, or one decided otherwise)', async () => {
    const small = join(dir, 'small.bin')
    await writeFile(small, 'not the content of version 1\n')
    const put = (version: string) =>
      runCli(['put', small, '--node', addr(0), '--namespace', 'cli', '--id', 'file-1', '--version', version])
    const gap = await put('9')
    expect(gap.stderr).toMatch(/^error \[INVALID_VERSION\]: /)
    expect(gap.status).toBe(2)
    const taken = await put('1')
    expect(taken.stderr).toMatch(/^error \[VERSION_CONFLICT\]: /)
    expect(taken.status).toBe(2)
  })

  it('repeats a put through another node as the same write (idempotent), not a conflicting version', async () => {
    // The retry a lost coordinator calls for (WRITE_OUTCOME_UNKNOWN: "send the identical write
    // again") goes through another node: the record must not depend on which.
    const file = join(dir, 'retry.bin')
    await writeFile(file, 'the same bytes, sent twice\n')
    const put = (node: number) =>
      runCli(['put', file, '--node', addr(node), '--namespace', 'cli', '--id', 'retry', '--version', '1'])
    const first = await put(0)
    expect(first.status).toBe(0)
    const again = await put(2)
    expect(again.stderr).toBe('')
    expect(again.status).toBe(0)
    expect(JSON.parse(again.stdout).hash_commit).toBe(JSON.parse(first.stdout).hash_commit)
  })

  it('answers exit 3 when the node cannot be reached', async () => {
    const peer = peerIdFromPrivateKey(await testPeerKey(4000)).toString()
    const nobody = `/ip4/127.0.0.1/tcp/1/p2p/${peer}`
    for (const args of [
      ['put', join(dir, 'v1.bin'), '--node', nobody, '--namespace', 'n', '--id', 'i'],
      ['get', oid, '--node', nobody, '-o', join(dir, 'never.bin')],
      ['proof', oid, '--version', '1', '--shard', shardId(oid, 1, 0), '--node', nobody],
      ['ls', '--node', nobody],
    ]) {
      const r = await runCli(args)
      expect(r.status).toBe(3)
      expect(r.stderr).toMatch(/^error \[NODE_UNAVAILABLE\]: /)
    }
    expect(await temporaryFiles(dir)).toEqual([])
  })

  it('has --help for every client command', async () => {
    for (const command of ['put', 'get', 'proof', 'ls']) {
      const r = await runCli([command, '--help'])
      expect(r.status).toBe(0)
      expect(r.stdout).toContain(`Usage: qfs-node ${command}`)
      expect(r.stdout).toContain('--node <multiaddr>')
    }
    expect((await runCli(['put', '--help'])).stdout).toContain('DeterministicTime')
  })
})

describe('qfs-node get and proof against a lying node', () => {
  let stub: StubNode
  let dir: string
  beforeAll(async () => {
    stub = await stubNode(2100)
    dir = await mkdtemp(join(tmpdir(), 'qfs-cli-stub-'))
  })
  afterAll(async () => {
    await stub?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('removes its temporary file and exits 1 when the content does not verify', async () => {
    const f = fixture('cli-lie', 3 * MIB + 1)
    const script = honestRead(f, f.content.length)
    const tampered = Uint8Array.from(f.content)
    tampered[2 * MIB] = tampered[2 * MIB]! ^ 0xff
    stub.behaviour.read = () => ({ ...script, data: [tampered] })
    const out = join(dir, 'lie.bin')
    const r = await runCli(['get', f.oid, '--version', '1', '--node', stub.address, '-o', out])
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/^error \[INTEGRITY_MISMATCH\]: /)
    expect(existsSync(out)).toBe(false)
    expect(await temporaryFiles(dir)).toEqual([])
    stub.behaviour.read = () => script
    expect((await runCli(['get', f.oid, '--node', stub.address, '-o', out])).status).toBe(0)
    expect(Buffer.from(await readFile(out)).equals(f.content)).toBe(true)
  })

  it('prints verified: false and exits 1 for a proof that does not lead to the record root', async () => {
    const f = fixture('cli-proof', 2 * MIB)
    stub.behaviour.read = () => honestRead(f)
    const forged = fixture('cli-proof-forged', 2 * MIB)
    const lie = honestProof(forged, 0, 0)
    stub.behaviour.proof = () => ({
      ...honestProof(f, 0, 0),
      proof: { ...(lie.proof as object), object_id: f.oid, shard_id: f.record.shards[0]!.shard_id },
    })
    const r = await runCli([
      'proof',
      f.oid,
      '--version',
      '1',
      '--shard',
      f.record.shards[0]!.shard_id,
      '--node',
      stub.address,
    ])
    expect(r.status).toBe(1)
    const out = JSON.parse(r.stdout)
    expect(out.verified).toBe(false)
    expect(out.reason).toMatch(/root/)
    stub.behaviour.proof = () => honestProof(f, 0, 0)
    const ok = await runCli([
      'proof',
      f.oid,
      '--version',
      '1',
      '--shard',
      f.record.shards[0]!.shard_id,
      '--node',
      stub.address,
      '--leaf',
      '0',
    ])
    expect(ok.status).toBe(0)
    expect(JSON.parse(ok.stdout).verified).toBe(true)
  })
})
