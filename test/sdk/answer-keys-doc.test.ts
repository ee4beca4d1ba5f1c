/**
 * docs/sdk.md names the keys of every answer a program gets from the SDK ("Answers, never
 * exceptions", and each call's section). The guide's examples read some of them; here every answer
 * must have exactly the keys the page lists, written out as the page gives them, so that a key added,
 * dropped or renamed on either side fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { AtlasAPIGateway, latestVersion, type QfsClient } from '../../src/sdk/index.js'
import type { Libp2pNetwork } from '../net/harness.js'
import { networkClient } from './harness.js'

const keys = (value: object) => Object.keys(value).sort()
const sorted = (names: string) => names.split(/,\s*/).sort()

/** "the normal form: all six keys" (Writing), PROTOCOL.md "Metadata". */
const METADATA = sorted(
  'author_node_id, created_at_tick, tags, openagi_score, atr_fee_events, aegis_telemetry_stub',
)
/** A version summary (Listing). */
const SUMMARY = sorted('object_id, version, kind, hash_commit, content_size, created_at_tick, metadata')
/** A failure (Answers, never exceptions). */
const FAILURE = sorted('ok, error_code, code, error_detail, storage_event_id')

describe('the answer keys docs/sdk.md lists', () => {
  let net: Libp2pNetwork
  let client: QfsClient
  const id = objectId('sdk-doc', 'answer-keys')
  const metadata = { author_node_id: 'alice', created_at_tick: 5, tags: ['Keys'] }

  beforeAll(async () => {
    ;({ net, client } = await networkClient(4))
    const put = await client.putContent(id, 1, new Uint8Array(5000).fill(3), metadata)
    expect(put.ok).toBe(true)
  })
  afterAll(async () => {
    await client?.close()
    await net?.close()
  })

  it('putContent and deleteContent: the StoreResponse of docs/protocol.md 4.2', async () => {
    const store = sorted(
      'ok, object_id, version, kind, hash_commit, content_size, shard_ids, replica_sets, atr_cost, under_replicated, storage_event_id',
    )
    expect(keys(await client.putContent(id, 2, new Uint8Array(10), metadata))).toEqual(store)
    expect(keys(await client.deleteContent(id, 3, metadata))).toEqual(store)
  })

  it('getContent: ok, object_id, version, kind, content_bytes, hash_commit, metadata, proofs, storage_event_id', async () => {
    const got = await client.getContent(id, 1)
    expect(keys(got)).toEqual(
      sorted('ok, object_id, version, kind, content_bytes, hash_commit, metadata, proofs, storage_event_id'),
    )
    if (!got.ok) return
    expect(keys(got.metadata)).toEqual(METADATA)
    for (const p of got.proofs)
      expect(keys(p)).toEqual(sorted('shard_id, shard_index, merkle_root, leaf_count, served_by'))
  })

  it('readContent: the header keys with content, proofs and cancel(), and ok', async () => {
    const opened = await client.readContent(id, 1)
    expect(keys(opened)).toEqual(
      sorted(
        'ok, object_id, version, kind, hash_commit, content_size, metadata, record, storage_event_id, content, proofs, cancel',
      ),
    )
    if ('cancel' in opened) opened.cancel()
  })

  it('listObjects: ok, objects, next_cursor, storage_event_id, each object a summary', async () => {
    const page = await client.listObjects({ prefix: id })
    expect(keys(page)).toEqual(sorted('ok, objects, next_cursor, storage_event_id'))
    if (!page.ok) return
    expect(page.objects.length).toBeGreaterThan(0)
    for (const o of page.objects) expect(keys(o)).toEqual(SUMMARY)
  })

  it('latestVersion: ok, latest (a summary), storage_event_id', async () => {
    const latest = await latestVersion(client, id)
    expect(keys(latest)).toEqual(sorted('ok, latest, storage_event_id'))
    if (latest.ok && latest.latest !== null) expect(keys(latest.latest)).toEqual(SUMMARY)
  })

  it('getStorageProof: ok, object_id, version, shard_id, merkle_root, proof, assigned_nodes, answered_by, storage_event_id', async () => {
    const record = await client.getRecord(id, 1)
    if (!('shards' in record)) throw new Error('no record')
    const proof = await client.getStorageProof(id, 1, record.shards[0]!.shard_id, { leafIndex: 0 })
    expect(keys(proof)).toEqual(
      sorted(
        'ok, object_id, version, shard_id, merkle_root, proof, assigned_nodes, answered_by, storage_event_id',
      ),
    )
  })

  it('getRecord: the VersionRecord itself (docs/protocol.md 4.1), with no ok and no storage_event_id', async () => {
    const record = await client.getRecord(id, 1)
    expect(keys(record)).toEqual(
      sorted(
        'object_id, version, kind, hash_commit, content_size, metadata, schema_version, block_size_bytes, epoch, timestamp_tick, atr_cost, shards, catalogue_homes',
      ),
    )
    expect(keys(await client.getRecord(id, 9))).toEqual(FAILURE)
  })

  it('a failure: ok, error_code, code, error_detail, storage_event_id', async () => {
    expect(keys(await client.getContent(id, 9))).toEqual(FAILURE)
    expect(keys(await client.putContent(id, 1, new Uint8Array(1), metadata))).toEqual(FAILURE)
  })

  it('the gateway: retrieveFeed ok, items, next_cursor, storage_event_id; queryMetadata a summary with ok and storage_event_id', async () => {
    const gateway = new AtlasAPIGateway(client)
    const feed = await gateway.retrieveFeed({ tag: 'keys' })
    expect(keys(feed)).toEqual(sorted('ok, items, next_cursor, storage_event_id'))
    if (feed.ok) for (const item of feed.items) expect(keys(item)).toEqual(SUMMARY)
    const withContent = await gateway.retrieveFeed({ tag: 'keys', includeContent: true })
    if (withContent.ok)
      for (const item of withContent.items) expect(keys(item)).toEqual([...SUMMARY, 'content_bytes'].sort())
    const info = await gateway.queryMetadata(id, 1)
    expect(keys(info)).toEqual([...SUMMARY, 'ok', 'storage_event_id'].sort())
  })
})
