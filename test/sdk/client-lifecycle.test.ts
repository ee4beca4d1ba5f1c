import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InvalidInputError } from '../../src/core/errors.js'
import { objectId } from '../../src/core/ids.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { parseNodeAddress } from '../../src/sdk/address.js'
import { QfsClient, type QfsClientInit } from '../../src/sdk/client.js'
import * as sdk from '../../src/sdk/index.js'
import { fixture, honestRead, type StubNode, stubNode } from './stub.js'

describe('QfsClient.create', () => {
  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a string', '/ip4/127.0.0.1/tcp/4001'],
    ['a number', 5],
  ])('refuses %s with the typed INVALID_INPUT, not a TypeError', async (_what, init) => {
    const err = await QfsClient.create(init as unknown as QfsClientInit).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidInputError)
    expect(err).toMatchObject({ code: 'INVALID_INPUT' })
    expect((err as Error).message).toContain('{node:')
  })

  it('refuses an init without a node address with INVALID_INPUT', async () => {
    const err = await QfsClient.create({} as QfsClientInit).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'INVALID_INPUT', message: 'node must be a multiaddr' })
  })

  it('takes the node id from the last /p2p/ of an address through a relay, not the relay', async () => {
    const [relay, node] = await Promise.all(
      [1, 2].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()),
    )
    const address = `/ip4/127.0.0.1/tcp/4001/p2p/${relay}/p2p-circuit/p2p/${node}`
    expect(parseNodeAddress(address)).toMatchObject({ peerId: node })
  })
})

describe('a closed QfsClient', () => {
  let stub: StubNode
  let dialer: Libp2p
  let calls = 0
  const f = fixture('closed', 1000)

  beforeAll(async () => {
    stub = await stubNode(2400)
    const read = honestRead(f)
    stub.behaviour.read = () => {
      calls++
      return read
    }
    stub.behaviour.list = () => {
      calls++
      return { next_cursor: null, objects: [] }
    }
    dialer = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
  })
  afterAll(async () => {
    await dialer?.stop()
    await stub?.close()
  })

  const CLOSED = {
    ok: false,
    error_code: 'SE_ERR_INTERNAL',
    code: 'CLIENT_CLOSED',
    error_detail: 'the client is closed: create a new QfsClient to talk to the node',
    storage_event_id: null,
  }

  /** Every method of the StorageEngine interface, and the SDK's own. */
  const everyCall = (c: QfsClient) => [
    c.putContent(f.oid, 2, new Uint8Array(10), f.metadata),
    c.deleteContent(f.oid, 2, f.metadata),
    c.getContent(f.oid, 1),
    c.readContent(f.oid, 1),
    c.getRecord(f.oid, 1),
    c.fetchStorageProof(f.oid, 1, f.record.shards[0]!.shard_id),
    c.getStorageProof(f.oid, 1, f.record.shards[0]!.shard_id),
    c.listObjects({}),
  ]

  it('answers CLIENT_CLOSED to every call, without dialling, on a libp2p node it was handed', async () => {
    const client = await QfsClient.create({ node: stub.address, libp2p: dialer })
    // Open, the same client reaches the node (so what follows is the closing, not the wiring).
    expect((await client.getContent(f.oid, 1)).ok).toBe(true)
    expect((await client.listObjects({})).ok).toBe(true)
    const before = calls
    await client.close()
    for (const answer of await Promise.all(everyCall(client))) expect(answer).toEqual(CLOSED)
    expect(calls).toBe(before)
    // The handed-in node is the caller's: still running.
    expect(dialer.status).toBe('started')
  })

  it('answers CLIENT_CLOSED, not NODE_UNAVAILABLE, once its own libp2p node is stopped', async () => {
    const client = await QfsClient.create({ node: stub.address })
    expect((await client.listObjects({})).ok).toBe(true)
    await client.close()
    await client.close()
    for (const answer of await Promise.all(everyCall(client))) expect(answer).toEqual(CLOSED)
  })
})

describe('the SDK entry point', () => {
  it('exports objectId (the README snippet names objects with it), as the core computes it', () => {
    expect(sdk.objectId).toBe(objectId)
    expect(sdk.objectId('photos', 'cat.jpg')).toMatch(/^[0-9a-f]{64}$/)
    expect(sdk.ClientClosedError).toBeDefined()
  })
})
