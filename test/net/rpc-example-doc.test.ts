/**
 * docs/protocol.md section 6 shows a replica channel exchange a node in another language is written
 * after: its replies must have the keys a node's replies have. Each reply line of the example is
 * read from the doc and compared, key for key, with what a real home answers on a channel: a commit
 * (CommitResult, 4.7), a record read, a fetch, an unknown op.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId, shardId } from '../../src/core/ids.js'
import type { StoreSuccess } from '../../src/engine/responses.js'
import { FrameStream } from '../../src/net/frame-stream.js'
import { encodeJsonFrame, type Frame, type JsonObject, MAX_FRAME_BYTES } from '../../src/net/frames.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { type Libp2pNetwork, libp2pHarness } from './harness.js'

const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8')
const example = doc.slice(doc.indexOf('A replica channel (`replica/rpc`)', doc.indexOf('## 6.')))
/** The doc's reply to request `id`: the line `← {...,"id":<id>,...}`, as its key paths. */
function documentedKeys(id: number): string[] {
  const line = example.split('\n').find((l) => l.startsWith('← {') && l.includes(`"id":${id},`))
  if (line === undefined) throw new Error(`no documented reply with id ${id}`)
  return keyPaths(line.slice(2))
}
/** Keys of the reply and of its body or error, as `key` and `body.key`, from JSON-like text with … in it. */
function keyPaths(text: string): string[] {
  const out: string[] = []
  let depth = 0
  let parent = ''
  for (const m of text.matchAll(/"([a-z_]+)":(\{?)|(\{)|(\})/g)) {
    if (m[4] !== undefined) {
      depth--
      if (depth === 1) parent = ''
    } else if (m[3] !== undefined) depth++
    else {
      if (depth <= 2) out.push(depth === 2 ? `${parent}.${m[1]}` : m[1]!)
      if (m[2] === '{') {
        depth++
        if (depth === 2) parent = m[1]!
      }
    }
  }
  return out.sort()
}
function wireKeys(value: JsonObject): string[] {
  const out = Object.keys(value)
  for (const k of ['body', 'error'])
    if (value[k] !== undefined) out.push(...Object.keys(value[k] as JsonObject).map((c) => `${k}.${c}`))
  return out.sort()
}

describe('docs/protocol.md section 6, the replica channel example', () => {
  let net: Libp2pNetwork
  const oid = objectId('docs', 'rpc-example')
  let put: StoreSuccess
  let fs: FrameStream
  const replies = new Map<number, JsonObject>()

  beforeAll(async () => {
    net = await libp2pHarness(4)
    put = (await net.engine(net.nodeIds[0]!).putContent(oid, 1, Uint8Array.of(97, 98, 99), {
      author_node_id: 'alice',
      created_at_tick: 7,
    })) as StoreSuccess
    expect(put.ok).toBe(true)
    const record = await net.locals.get(net.nodeIds[0]!)!.service.getRecord(oid, 1)
    const home = record!.catalogue_homes[0]!
    const holder = put.replica_sets[shardId(oid, 1, 0)]![0]!
    const asker = net.nodeIds.find((id) => id !== home)!
    const open = async (to: string) => {
      const stream = await net.libp2p
        .get(asker)!
        .dialProtocol(net.libp2p.get(to)!.getMultiaddrs(), PROTOCOLS.replicaRpc)
      return new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, idleMs: 5_000 })
    }
    const ask = async (channel: FrameStream, request: JsonObject) => {
      await channel.write(encodeJsonFrame(request))
      const reply = (await channel.read(AbortSignal.timeout(5_000))) as Extract<Frame, { type: 'json' }>
      if (reply.value.data === true) await channel.read(AbortSignal.timeout(5_000))
      replies.set(reply.value.id as number, reply.value)
    }
    fs = await open(home)
    await ask(fs, { id: 1, op: 'commit', body: { record: record as unknown as JsonObject, staged: [] } })
    await ask(fs, { id: 2, op: 'record', body: { object_id: objectId('docs', 'nobody'), version: 'latest' } })
    await ask(fs, { id: 4, op: 'nope', body: {} })
    const holderChannel = await open(holder)
    await ask(holderChannel, { id: 3, op: 'fetch', body: { shard_id: shardId(oid, 1, 0), from_block: 0 } })
    holderChannel.abort(new Error('test done'))
  })
  afterAll(async () => {
    fs?.abort(new Error('test done'))
    await net?.close()
  })

  it.each([
    [1, 'a home commit: CommitResult with its acceptance'],
    [2, 'a record read'],
    [3, 'a fetch'],
    [4, 'an unknown op'],
  ])('reply %i (%s) has the keys the example shows', (id) => {
    expect(wireKeys(replies.get(id)!)).toEqual(documentedKeys(id))
  })
})
