import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import { QfsClient } from '../../src/sdk/client.js'
import { type Libp2pNetwork, libp2pHarness } from '../net/harness.js'
import { nodeAddress } from '../sdk/harness.js'
import { runCli } from './run.js'

/**
 * How the client commands answer what the node answered: a definite "not there" (a version or shard
 * that does not exist, a delete marker, an empty shard) exits 4 on every command, and `--json` means
 * the same on each.
 */
describe('client commands and the node answers', () => {
  let net: Libp2pNetwork
  let dir: string
  let node: string
  const oid = objectId('answers', 'one-byte')
  const listed = objectId('answers', 'listed')

  beforeAll(async () => {
    net = await libp2pHarness(4)
    node = nodeAddress(net, net.nodeIds[0]!)
    dir = await mkdtemp(join(tmpdir(), 'qfs-cli-answers-'))
    const client = await QfsClient.create({ node, libp2p: net.outsider })
    const metadata = { author_node_id: 'answers', created_at_tick: 1 }
    // v1 is one byte (shards 1..3 empty), v2 deletes it.
    expect((await client.putContent(oid, 1, new Uint8Array([42]), metadata)).ok).toBe(true)
    expect((await client.deleteContent(oid, 2, metadata)).ok).toBe(true)
    expect((await client.putContent(listed, 1, new Uint8Array([1]), metadata)).ok).toBe(true)
    expect((await client.putContent(listed, 2, new Uint8Array([2]), metadata)).ok).toBe(true)
    await client.close()
  })
  afterAll(async () => {
    await net?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('refuses to get a delete marker by its number: NOT_FOUND, exit 4, no file written', async () => {
    const out = join(dir, 'deleted.bin')
    const text = await runCli(['get', oid, '--version', '2', '--node', node, '-o', out])
    expect(text.stderr).toBe(
      `error [NOT_FOUND]: version 2 of ${oid} is a delete marker (the object was deleted at that version): it has no content\n`,
    )
    expect(text.status).toBe(4)
    expect(text.stdout).toBe('')
    const json = await runCli(['get', oid, '--version', '2', '--node', node, '-o', out, '--json'])
    expect(json.status).toBe(4)
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      error_code: 'SE_ERR_NOT_FOUND',
      code: 'NOT_FOUND',
      storage_event_id: expect.stringMatching(/^[0-9a-f]{64}$/),
    })
    expect(existsSync(out)).toBe(false)
    expect(await readdir(dir)).toEqual([])
  })

  it('exits 4 when the node answers that the version or shard is not there, or the shard is empty', async () => {
    const out = join(dir, 'never.bin')
    const cases: Array<[string[], RegExp]> = [
      // The latest is the delete marker.
      [['get', oid, '--node', node, '-o', out], /^error \[NOT_FOUND\]: .* was deleted at version 2\n$/],
      [['get', oid, '--version', '9', '--node', node, '-o', out], /^error \[NOT_FOUND\]: /],
      [
        ['proof', oid, '--version', '9', '--shard', shardId(oid, 9, 0), '--node', node],
        /^error \[NOT_FOUND\]: /,
      ],
      // A one-byte version: shard 0 holds the byte, shards 1..3 are empty.
      [
        ['proof', oid, '--version', '1', '--shard', shardId(oid, 1, 1), '--node', node],
        /^error \[EMPTY_SHARD\]: /,
      ],
    ]
    for (const [args, message] of cases) {
      const r = await runCli(args)
      expect(r.stderr).toMatch(message)
      expect(r.status, r.stderr).toBe(4)
    }
    expect(await readdir(dir)).toEqual([])
    // The byte itself proves as before.
    const held = await runCli(['proof', oid, '--version', '1', '--shard', shardId(oid, 1, 0), '--node', node])
    expect(held.status).toBe(0)
    expect(JSON.parse(held.stdout).verified).toBe(true)
  })

  it('means the same by --json on every client command', async () => {
    const file = join(dir, 'small.txt')
    await writeFile(file, 'small\n')
    try {
      // put: --text and --json contradict each other: refused before anything is read or dialled.
      const both = await runCli([
        'put',
        file,
        '--node',
        node,
        '--namespace',
        'n',
        '--id',
        'i',
        '--text',
        '--json',
      ])
      expect(both.status).toBe(2)
      expect(both.stderr).toMatch(
        /^error \[INVALID_ARGUMENT\]: option '--text' cannot be used with option '--json'/,
      )
      expect(both.stdout).toBe('')
      // proof: always JSON; --json is accepted and changes nothing.
      const args = [
        'proof',
        oid,
        '--version',
        '1',
        '--shard',
        shardId(oid, 1, 0),
        '--node',
        node,
        '--omit-block',
      ]
      const plain = await runCli(args)
      const json = await runCli([...args, '--json'])
      expect(json.status).toBe(0)
      expect(json.stdout).toBe(plain.stdout)
      // ls: with --json the next page is next_cursor in the document, not a hint on stderr.
      const page = await runCli(['ls', '--node', node, '--prefix', listed, '--limit', '1', '--json'])
      expect(page.status).toBe(0)
      expect(JSON.parse(page.stdout).next_cursor).toEqual({ object_id: listed, version: 1 })
      expect(page.stderr).toBe('')
    } finally {
      await rm(file, { force: true })
    }
  })
})
