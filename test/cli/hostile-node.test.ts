import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { encodeErrorFrame, type JsonObject } from '../../src/net/frames.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { type HostileNode, hostileNode, sendRead } from '../sdk/hostile.js'
import { EVENT_ID, fixture, honestProof, honestRead } from '../sdk/stub.js'
import { runCli } from './run.js'

// What a terminal would act on: C0 controls (ESC, BEL, newline...), DEL and C1 controls.
const CONTROL = /\p{Cc}/u
const ESCAPES = '\u001b]0;owned\u0007\u001b[2J\r\nerror [OK]: all fine\u009b'

/**
 * The client commands facing a node that lies or attacks: whatever it sends, a command ends with
 * its exit status and one line of its own on stderr, never with bytes of the node's choosing on the
 * terminal or a FILE of unverified content.
 */
describe('client commands against a hostile node', () => {
  let node: HostileNode
  let dir: string
  let n = 0
  const f = fixture('cli-hostile', 3 * 262_144 + 5)
  const honest = honestRead(f)
  const summary = (extra: Partial<JsonObject> = {}): JsonObject => ({
    object_id: f.oid,
    version: 1,
    kind: 'STORE',
    hash_commit: f.record.hash_commit,
    content_size: f.content.length,
    created_at_tick: 7,
    metadata: f.metadata as unknown as JsonObject,
    ...extra,
  })
  const servePage = (next: JsonObject | null, objects: JsonObject[]) =>
    node.answer(PROTOCOLS.listObjects, async (fs) => {
      await fs.writeJson({ ok: true, next_cursor: next, storage_event_id: EVENT_ID })
      for (const o of objects) await fs.writeJson(o)
      await fs.writeEnd()
    })

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qfs-cli-hostile-'))
  })
  // A node per test: libp2p takes at most 5 inbound connections a second from one host, and each
  // command is a new client node.
  beforeEach(async () => {
    node = await hostileNode(2700 + n++)
  })
  afterEach(async () => {
    await node?.close()
  })
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('get: an inconsistent read header is exit 3, with no FILE and no temporary file', async () => {
    const record = structuredClone(honest.header.record) as JsonObject
    ;(record.shards as JsonObject[])[0]!.leaf_count = 7
    await node.answer(PROTOCOLS.read, (fs) =>
      sendRead(fs, { ...honest, header: { ...honest.header, record } }),
    )
    const out = join(dir, 'inconsistent.bin')
    const r = await runCli(['get', f.oid, '--version', '1', '--node', node.address, '-o', out])
    expect(r.status).toBe(3)
    expect(r.stderr).toMatch(/^error \[NODE_UNAVAILABLE\]: .*\(INVALID_INPUT: .*leaf_count/)
    expect(existsSync(out)).toBe(false)
    expect(await readdir(dir)).toEqual([])
  })

  it("get: a node's error code and detail reach the terminal with control characters escaped, on one line", async () => {
    const out = join(dir, 'escaped.bin')
    // In an ERROR frame (codes are A-Z there) and in a Failure answer (any code text).
    await node.answer(PROTOCOLS.read, (fs) =>
      fs.write(
        encodeErrorFrame({ code: 'NOT_FOUND', error_code: 'SE_ERR_NOT_FOUND', error_detail: ESCAPES }),
      ),
    )
    const frame = await runCli(['get', f.oid, '--node', node.address, '-o', out])
    await node.answer(PROTOCOLS.read, (fs) =>
      fs.writeJson({
        ok: false,
        error_code: 'SE_ERR_NOT_FOUND',
        error_detail: ESCAPES,
        code: 'NOT\u001b[31mFOUND',
        storage_event_id: null,
      }),
    )
    const answer = await runCli(['get', f.oid, '--node', node.address, '-o', out, '--json'])
    for (const r of [frame, answer]) {
      // A NOT_FOUND answer, however worded: the node says the version is not there (exit 4).
      expect(r.status).toBe(4)
      const line = r.stderr.slice(0, -1)
      expect(r.stderr.endsWith('\n')).toBe(true)
      expect(CONTROL.test(line)).toBe(false)
      expect(line).toContain('\\u001b]0;owned\\u0007\\u001b[2J\\u000d\\u000aerror [OK]: all fine\\u009b')
    }
    expect(answer.stderr).toMatch(/^error \[NOT\\u001b\[31mFOUND\]: /)
    // --json keeps the answer as the node gave it, in JSON (which escapes what it must).
    expect(JSON.parse(answer.stdout)).toMatchObject({ error_detail: ESCAPES })
    expect(existsSync(out)).toBe(false)
  })

  it("ls: a node's metadata reaches a terminal table with control characters escaped", async () => {
    const metadata = { ...(f.metadata as unknown as JsonObject), author_node_id: `evil${ESCAPES}` }
    await servePage(null, [summary({ metadata })])
    let stdout = ''
    const status = await main(['ls', '--node', node.address], {
      stdout: (t) => {
        stdout += t
      },
      stderr: () => {},
      isTty: true,
    })
    expect(status).toBe(0)
    const rows = stdout.split('\n').filter((l) => l !== '')
    expect(rows).toHaveLength(2)
    expect(CONTROL.test(rows[1]!)).toBe(false)
    expect(rows[1]).toContain('evil\\u001b]0;owned')
  })

  it('ls --json and ls as JSON lines: the same metadata comes out with every control character escaped', async () => {
    const metadata = { ...(f.metadata as unknown as JsonObject), author_node_id: `evil${ESCAPES}` }
    await servePage(null, [summary({ metadata })])
    const listed = await runCli(['ls', '--node', node.address, '--json'])
    expect(listed.status).toBe(0)
    // JSON.stringify escapes C0 only; DEL and C1 (U+009B is a CSI on some terminals) are escaped too.
    expect(CONTROL.test(listed.stdout.replaceAll('\n', ''))).toBe(false)
    expect(JSON.parse(listed.stdout).objects[0].metadata.author_node_id).toBe(`evil${ESCAPES}`)
    // Without --json and without a terminal: one JSON line per object, escaped the same way.
    await servePage(null, [summary({ metadata })])
    const lines = await runCli(['ls', '--node', node.address])
    expect(lines.status).toBe(0)
    expect(CONTROL.test(lines.stdout.replace(/\n$/, ''))).toBe(false)
    expect(JSON.parse(lines.stdout).metadata.author_node_id).toBe(`evil${ESCAPES}`)
  })

  it('ls: entries without the tag asked for, or a cursor that repeats, are exit 1', async () => {
    await servePage(null, [summary()])
    const tag = await runCli(['ls', '--node', node.address, '--tag', 'absent'])
    expect(tag.status).toBe(1)
    expect(tag.stderr).toMatch(/^error \[INTEGRITY_MISMATCH\]: .*lacks the tag/)
    expect(tag.stdout).toBe('')
    let pages = 0
    await node.answer(PROTOCOLS.listObjects, async (fs) => {
      pages++
      await fs.writeJson({
        ok: true,
        next_cursor: { object_id: f.oid, version: 1 },
        storage_event_id: EVENT_ID,
      })
      await fs.writeEnd()
    })
    const loop = await runCli(['ls', '--node', node.address, '--all'])
    expect(loop.status).toBe(1)
    expect(loop.stderr).toMatch(/^error \[INTEGRITY_MISMATCH\]: .*does not advance/)
    expect(pages).toBe(2)
  })

  it('proof: an audit path of absurd length is verified: false, exit 1', async () => {
    await node.answer(PROTOCOLS.read, (fs) => sendRead(fs, honest))
    const answer = honestProof(f, 0, 0)
    const proof = {
      ...(answer.proof as JsonObject),
      audit_path: Array.from({ length: 10_000 }, () => 'ab'.repeat(32)),
    }
    await node.answer(PROTOCOLS.getProof, (fs) => fs.writeJson({ ...answer, proof }))
    const shard = f.record.shards[0]!.shard_id
    const r = await runCli(['proof', f.oid, '--version', '1', '--shard', shard, '--node', node.address])
    expect(r.status).toBe(1)
    expect(JSON.parse(r.stdout)).toMatchObject({
      verified: false,
      reason: expect.stringMatching(/audit_path/),
    })
  })
  it('proof: an honest proof of another leaf than --leaf asked for is verified: false, exit 1', async () => {
    const big = fixture('cli-hostile-leaves', 12 * 262_144)
    const shardIndex = big.layout.findIndex((s) => s.leafHashes.length >= 2)
    expect(shardIndex).toBeGreaterThanOrEqual(0)
    await node.answer(PROTOCOLS.read, (fs) => sendRead(fs, honestRead(big)))
    // A valid proof of leaf 0 (the one a node holding only that block could give), for leaf 1.
    await node.answer(PROTOCOLS.getProof, (fs) => fs.writeJson(honestProof(big, shardIndex, 0)))
    const shard = big.record.shards[shardIndex]!.shard_id
    const r = await runCli([
      'proof',
      big.oid,
      '--version',
      '1',
      '--shard',
      shard,
      '--node',
      node.address,
      '--leaf',
      '1',
    ])
    expect(r.status).toBe(1)
    expect(JSON.parse(r.stdout)).toMatchObject({ verified: false, reason: expect.stringMatching(/leaf/) })
  })
})
