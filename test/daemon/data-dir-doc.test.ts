import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { type RunningNode, startNode } from '../../src/daemon/daemon.js'
import { createLogger } from '../../src/daemon/logger.js'
import { writeSnapshotFile } from '../../src/daemon/snapshot-file.js'
import { configOf, members, removeRoot, signed } from './snapshot-fixture.js'

/**
 * docs/operations.md "Data directory": every file of the table, with the fields its row names, the
 * modes it gives, while a node runs and after it stopped. The row texts are the oracle.
 */

const ops = await readFile(new URL('../../docs/operations.md', import.meta.url), 'utf8')
const table = ops.slice(ops.indexOf('## Data directory'), ops.indexOf('`init` is idempotent'))
/** The "what" cell of the row of `path`. */
function row(path: string): string {
  const line = table.split('\n').find((l) => l.startsWith(`| \`${path}\` |`))
  if (line === undefined) throw new Error(`the data directory table has no row for ${path}`)
  return line.split(' | ')[1]!
}
/** The field names of a row's `{ ... }`: `"schema": "x", "node_id"` or `schema: "x", epoch`. */
function fieldsOf(path: string): { fields: string[]; schema: string } {
  const braces = /`\{ (.*?) \}`/.exec(row(path))![1]!
  const fields = braces.split(', ').map((f) => f.split(':')[0]!.replaceAll('"', '').trim())
  return { fields, schema: /schema"?: "([^"]+)"/.exec(braces)![1]! }
}
const mode = async (path: string) => (await stat(path)).mode & 0o777

let root = ''
let node: RunningNode | undefined
afterAll(async () => {
  await node?.stop().catch(() => {})
  await removeRoot(root)
})

describe('docs/operations.md data directory table', () => {
  it('holds each file with what its row says, while the node runs and after it stopped', async () => {
    const made = await members('data-dir-doc', 1)
    root = made.root
    const m = made.members[0]!
    const config = await configOf(m)
    const D = config.dir
    await writeSnapshotFile(config.snapshot, signed(0, [m.entry]))
    node = await startNode(config, { logger: createLogger('silent') })

    const nodeJson = JSON.parse(await readFile(join(D, 'node.json'), 'utf8'))
    const nodeRow = fieldsOf('D/node.json')
    expect(Object.keys(nodeJson).sort()).toEqual([...nodeRow.fields].sort())
    expect(nodeJson.schema).toBe(nodeRow.schema)

    // "The libp2p Ed25519 private key, protobuf, mode 0600. Its peer id is the node id."
    expect(row('D/peer-key')).toContain('mode 0600')
    expect(await mode(join(D, 'peer-key'))).toBe(0o600)
    const key = privateKeyFromProtobuf(await readFile(join(D, 'peer-key')))
    expect(key.type).toBe('Ed25519')
    expect(peerIdFromPrivateKey(key).toString()).toBe(nodeJson.node_id)

    // "The ML-DSA-65 audit key (`qfs-audit-key/1`: seed and public key), mode 0600."
    expect(row('D/audit-key.json')).toContain('(`qfs-audit-key/1`: seed and public key), mode 0600')
    expect(await mode(join(D, 'audit-key.json'))).toBe(0o600)
    expect(JSON.parse(await readFile(join(D, 'audit-key.json'), 'utf8'))).toMatchObject({
      schema: 'qfs-audit-key/1',
      seed: expect.stringMatching(/^[0-9a-f]+$/),
      public_key: expect.stringMatching(/^[0-9a-f]+$/),
    })

    expect((await stat(join(D, 'db'))).isDirectory()).toBe(true)

    const head = JSON.parse(await readFile(join(D, 'snapshot-head.json'), 'utf8'))
    const headRow = fieldsOf('D/snapshot-head.json')
    expect(Object.keys(head).sort()).toEqual([...headRow.fields].sort())
    expect(head.schema).toBe(headRow.schema)
    expect(await readdir(join(D, 'snapshots'))).toEqual(['epoch-0.json'])

    const run = JSON.parse(await readFile(join(D, 'run.json'), 'utf8'))
    const runRow = fieldsOf('D/run.json')
    expect(Object.keys(run).sort()).toEqual([...runRow.fields].sort())
    expect(run).toMatchObject({ schema: runRow.schema, pid: process.pid, node_id: nodeJson.node_id })

    // One entry in the node's log (a read of nothing is logged too), so the stop signs a checkpoint.
    const entries = node.local.log.head().entries
    await node.engine.getContent(objectId('data-dir-doc', 'none'))
    expect(node.local.log.head().entries).toBe(entries + 1)

    // "removed on a clean stop"
    const log = node.local.log
    await node.stop()
    node = undefined
    expect(row('D/run.json')).toContain('removed on a clean stop')
    expect((await readdir(D)).includes('run.json')).toBe(false)

    // "the last checkpoint the node signed ... mode 0600"
    const logHead = JSON.parse(await readFile(join(D, 'log-head.json'), 'utf8'))
    const logHeadRow = fieldsOf('D/log-head.json')
    expect(Object.keys(logHead).sort()).toEqual([...logHeadRow.fields].sort())
    expect(logHead).toMatchObject({
      schema: logHeadRow.schema,
      node_id: nodeJson.node_id,
      checkpoint_seq: log.head().checkpoints - 1,
      last_seq: log.head().covered_entries - 1,
      checkpoint_id: log.head().last_checkpoint_id,
    })
    expect(log.head().covered_entries).toBe(log.head().entries)
    expect(row('D/log-head.json')).toContain('mode 0600')
    expect(await mode(join(D, 'log-head.json'))).toBe(0o600)
  })
})
