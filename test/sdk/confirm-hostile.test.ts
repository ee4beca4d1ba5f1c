import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ReadSuccess } from '../../src/engine/responses.js'
import { QfsClient } from '../../src/sdk/client.js'
import { confirmVersion } from '../../src/sdk/confirm.js'
import { meta } from '../engine/suite.js'
import { clientHarness } from './harness.js'
import { fixture, honestRead, type StubNode, stubNode } from './stub.js'

/**
 * Over libp2p: a node that serves a made-up record with bytes that match it passes every check of a
 * read (the SDK can only check the bytes against the record it is sent); asking the network's own
 * nodes tells it apart from the version they decided.
 */
describe('confirmVersion over libp2p against a node serving a made-up record', () => {
  let net: Awaited<ReturnType<typeof clientHarness>>
  let stub: StubNode
  let liar: QfsClient
  const f = fixture('confirm-hostile', 1000)
  const real = new Uint8Array(1000).fill(42)

  beforeAll(async () => {
    net = await clientHarness(5)
    // The network decides version 1 of the fixture's object with other bytes than the stub serves.
    const put = await net.engine(net.nodeIds[0]!).putContent(f.oid, 1, real, meta(7))
    expect(put.ok).toBe(true)
    stub = await stubNode(2090)
    stub.behaviour.read = () => honestRead(f)
    liar = await QfsClient.create({ node: stub.address, timeouts: { requestMs: 3_000, idleMs: 3_000 } })
  }, 60_000)
  afterAll(async () => {
    await liar?.close()
    await stub?.close()
    await net?.close()
  })

  const asked = () => net.nodeIds.slice(1, 4).map((id) => net.engine(id))

  it('the made-up version reads back verified, and is not confirmed by the nodes asked', async () => {
    const forged = await liar.getContent(f.oid, 1)
    expect(forged.ok).toBe(true)
    const read = forged as ReadSuccess
    expect(Buffer.from(read.content_bytes).equals(Buffer.from(f.content))).toBe(true)
    const answer = await confirmVersion(asked(), read)
    expect(answer.ok).toBe(true)
    if (!answer.ok) return
    expect(answer.confirmed).toBe(false)
    expect(answer.agreeing).toBe(0)
    // Every node asked names the version the network decided instead.
    const decided = await net.engine(net.nodeIds[4]!).getContent(f.oid, 1)
    if (!decided.ok) throw new Error(decided.code)
    expect(decided.hash_commit).not.toBe(read.hash_commit)
    expect(answer.answers).toEqual([0, 1, 2].map(() => ({ hash_commit: decided.hash_commit })))
  })

  it('the decided version, read through an honest node, is confirmed by the same nodes', async () => {
    const read = await net.engine(net.nodeIds[4]!).getContent(f.oid, 1)
    if (!read.ok) throw new Error(read.code)
    expect(Buffer.from(read.content_bytes).equals(Buffer.from(real))).toBe(true)
    expect(await confirmVersion(asked(), read)).toMatchObject({ ok: true, confirmed: true, agreeing: 3 })
  })
})
