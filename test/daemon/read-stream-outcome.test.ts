/**
 * The outcome a public read is counted with in qfs_requests_total{op="read_stream"}: a client that
 * takes every byte is an `ok`; one failed after the header (READ_TOO_SLOW here) is an `error` with
 * the reason's code, as qfs_exchange_failures_total counts it, never an `ok` too.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateContent } from '../../src/conformance/content.js'
import { toHex } from '../../src/core/bytes.js'
import { objectId } from '../../src/core/ids.js'
import { loadConfig } from '../../src/daemon/config.js'
import { type RunningNode, startNode } from '../../src/daemon/daemon.js'
import { type InitResult, initDataDir } from '../../src/daemon/data-dir.js'
import { createLogger } from '../../src/daemon/logger.js'
import { writeSnapshotFile } from '../../src/daemon/snapshot-file.js'
import { generateAuditKey } from '../../src/log/keys.js'
import { createSnapshot, signSnapshot } from '../../src/membership/snapshot.js'
import { QfsClient } from '../../src/sdk/client.js'

const authority = generateAuditKey(new Uint8Array(32).fill(11))
const oid = objectId('daemon-test', 'read-stream-outcome')
const SIZE = 8_000_000
let root = ''
const ids: InitResult[] = []
const nodes: RunningNode[] = []

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-read-outcome-'))
  for (const name of ['a', 'b', 'c']) ids.push(await initDataDir(join(root, name)))
  for (const id of ids) {
    const config = await loadConfig({
      dir: id.dir,
      env: {},
      flags: {
        trusted_authorities: [toHex(authority.publicKey)],
        'limits.shutdown_timeout_ms': '3000',
        // A short grace and a high rate: a client that stops taking bytes is failed at once.
        'limits.read_min_deadline_ms': '300',
        'limits.read_min_bytes_per_second': '10000000',
        allow_no_snapshot: true,
      },
    })
    nodes.push(await startNode(config, { logger: createLogger('silent') }))
  }
  const snapshot = signSnapshot(
    createSnapshot({
      epoch: 0,
      startTick: 0,
      nodes: nodes.map((node, i) => ({
        node_id: node.nodeId,
        multiaddrs: node.multiaddrs(),
        mldsa_public_key: ids[i]!.auditPublicKey,
      })),
      authorityPublicKey: authority.publicKey,
    }),
    authority,
  )
  for (const node of nodes) {
    await writeSnapshotFile(node.config.snapshot, snapshot)
    await node.reloadSnapshot()
  }
  const content = generateContent({ sha3_stream: 'read-outcome', length: SIZE })
  const put = await nodes[0]!.engine.putContent(oid, 1, content, {
    author_node_id: 'r',
    created_at_tick: 1,
    tags: ['t'],
  })
  if (!put.ok) throw new Error(JSON.stringify(put))
}, 60_000)

afterAll(async () => {
  for (const node of nodes) await node.stop().catch(() => {})
  if (root !== '') await rm(root, { recursive: true, force: true })
})

/** One sample of the exposition text, 0 when the series is absent. */
async function sample(node: RunningNode, series: string): Promise<number> {
  const text = await (await fetch(`${node.apiUrl}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

async function readStreams(node: RunningNode) {
  return {
    ok: await sample(node, 'qfs_requests_total{op="read_stream",outcome="ok"}'),
    error: await sample(node, 'qfs_requests_total{op="read_stream",outcome="error"}'),
    tooSlow: await sample(node, 'qfs_request_errors_total{op="read_stream",code="READ_TOO_SLOW"}'),
  }
}

describe('read_stream outcome of public reads', () => {
  it('a client that takes every byte: ok', async () => {
    const node = nodes[1]!
    const client = await QfsClient.create({ node: node.multiaddrs()[0]! })
    try {
      const opened = await client.readContent(oid, 1)
      if (!('content' in opened)) throw new Error(JSON.stringify(opened))
      let bytes = 0
      for await (const chunk of opened.content) bytes += chunk.length
      expect(bytes).toBe(SIZE)
      await expect.poll(() => readStreams(node)).toEqual({ ok: 1, error: 0, tooSlow: 0 })
    } finally {
      await client.close()
    }
  })

  it('a client failed READ_TOO_SLOW after the header: an error with that code, not an ok', async () => {
    const node = nodes[2]!
    const client = await QfsClient.create({ node: node.multiaddrs()[0]! })
    try {
      const opened = await client.readContent(oid, 1)
      if (!('content' in opened)) throw new Error(JSON.stringify(opened))
      await opened.content[Symbol.asyncIterator]().next()
      // Nothing more is taken: the node fails the read after its grace.
      await expect
        .poll(
          () =>
            sample(
              node,
              'qfs_exchange_failures_total{protocol="/qfs/storage/read/1.0.0",code="READ_TOO_SLOW"}',
            ),
          { timeout: 15_000 },
        )
        .toBe(1)
      await expect.poll(() => sample(node, 'qfs_public_reads_active')).toBe(0)
      opened.cancel()
      expect(await readStreams(node)).toEqual({ ok: 0, error: 1, tooSlow: 1 })
    } finally {
      await client.close()
    }
  })
})
