import { getEventListeners } from 'node:events'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { JsonObject } from '../../src/net/frames.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import { QfsClient, type QfsClientInit } from '../../src/sdk/client.js'
import { fixture, honestRead, honestStore, type StubNode, stubNode } from './stub.js'

/** A gate the stub's answers wait on, counting how many wait at once. */
function gate() {
  let open!: () => void
  let opened = new Promise<void>((resolve) => (open = resolve))
  const state = { now: 0, most: 0 }
  return {
    state,
    async pass(): Promise<void> {
      state.now++
      state.most = Math.max(state.most, state.now)
      try {
        await opened
      } finally {
        state.now--
      }
    },
    open: () => open(),
    reset: () => {
      opened = new Promise<void>((resolve) => (open = resolve))
      state.now = 0
      state.most = 0
    },
  }
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10))
  expect(check()).toBe(true)
}

describe('QfsClient concurrency', () => {
  let stub: StubNode
  let dialer: Libp2p
  const f = fixture('concurrency', 300)
  const g = gate()
  const clients: QfsClient[] = []

  beforeAll(async () => {
    stub = await stubNode(2470)
    dialer = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
  })
  afterEach(async () => {
    g.open()
    for (const c of clients.splice(0)) await c.close()
    g.reset()
  })
  afterAll(async () => {
    await dialer?.stop()
    await stub?.close()
  })

  const client = async (init: Partial<QfsClientInit> = {}) => {
    const c = await QfsClient.create({ node: stub.address, libp2p: dialer, ...init })
    clients.push(c)
    return c
  }
  const put = (c: QfsClient) => c.putContent(f.oid, 1, f.content, f.metadata)

  it('runs a burst of writes larger than the node takes at once, never more than its limit at a time', async () => {
    // The stub, like any libp2p node, resets a 33rd concurrent stream of one protocol: without the
    // client's slots most of this burst answered NODE_UNAVAILABLE.
    stub.behaviour.store = async () => {
      await g.pass()
      return honestStore(f)
    }
    const c = await client()
    const answers = Array.from({ length: 70 }, () => put(c))
    await until(() => g.state.now === 32)
    expect(c.load.writes).toEqual({ running: 32, waiting: 38 })
    g.open()
    const done = await Promise.all(answers)
    expect(done.filter((a) => !a.ok)).toEqual([])
    expect(g.state.most).toBe(32)
    expect(c.load.writes).toEqual({ running: 0, waiting: 0 })
  })

  it('keeps to a smaller limit it is given', async () => {
    stub.behaviour.store = async () => {
      await g.pass()
      return honestStore(f)
    }
    const c = await client({ maxConcurrent: { writes: 3 } })
    const answers = Array.from({ length: 10 }, () => put(c))
    await until(() => g.state.now === 3)
    await new Promise((r) => setTimeout(r, 50))
    expect(g.state.most).toBe(3)
    g.open()
    expect((await Promise.all(answers)).every((a) => a.ok)).toBe(true)
  })

  it('answers NODE_BUSY to a call that waited queueMs for a slot, and serves the next one', async () => {
    stub.behaviour.list = async () => {
      await g.pass()
      return { next_cursor: null, objects: [] }
    }
    const c = await client({ maxConcurrent: { listings: 1 }, timeouts: { queueMs: 50 } })
    const first = c.listObjects({})
    await until(() => g.state.now === 1)
    const late = await c.listObjects({})
    expect(late).toMatchObject({ ok: false, code: 'NODE_BUSY', error_code: 'SE_ERR_NO_ELIGIBLE_NODES' })
    expect(g.state.most).toBe(1)
    g.open()
    expect((await first).ok).toBe(true)
    expect((await c.listObjects({})).ok).toBe(true)
  })

  it('answers NODE_UNAVAILABLE to a call its caller abandoned while it waited, and frees its place', async () => {
    stub.behaviour.list = async () => {
      await g.pass()
      return { next_cursor: null, objects: [] }
    }
    const c = await client({ maxConcurrent: { listings: 1 } })
    const first = c.listObjects({})
    await until(() => g.state.now === 1)
    const caller = new AbortController()
    const abandoned = c.listObjects({}, { signal: caller.signal })
    const after = c.listObjects({})
    caller.abort()
    expect(await abandoned).toMatchObject({ ok: false, code: 'NODE_UNAVAILABLE' })
    expect(c.load.listings).toEqual({ running: 1, waiting: 1 })
    g.open()
    expect((await first).ok).toBe(true)
    expect((await after).ok).toBe(true)
    expect(g.state.most).toBe(1)
  })

  it('holds a read slot while the node serves it, until its content ends, its cancel, or an early return', async () => {
    // The node sends the first 100 bytes, then holds the read mid-content (its stream open) until
    // the gate opens.
    stub.behaviour.read = () => {
      let sent = 0
      return { ...honestRead(f, 100), pace: async () => (sent++ === 0 ? undefined : g.pass()) }
    }
    const c = await client({ maxConcurrent: { reads: 1 } })
    const opened = await c.readContent(f.oid, 1)
    if (!('content' in opened)) throw new Error(opened.code)
    expect(c.load.reads).toEqual({ running: 1, waiting: 0 })
    const second = c.getContent(f.oid, 1)
    await until(() => c.load.reads.waiting === 1)
    opened.cancel()
    await until(() => c.load.reads.waiting === 0)
    g.open()
    const got = await second
    expect(got.ok && Buffer.from(got.content_bytes).equals(Buffer.from(f.content))).toBe(true)
    expect(c.load.reads).toEqual({ running: 0, waiting: 0 })
    g.reset()
    // Returned before its first byte (a consumer that decides not to read after all): the generator's
    // own cleanup never runs then, and the slot must come back all the same.
    const unread = await c.readContent(f.oid, 1)
    if (!('content' in unread)) throw new Error(unread.code)
    expect(c.load.reads.running).toBe(1)
    await unread.content[Symbol.asyncIterator]().return?.(undefined)
    expect(c.load.reads).toEqual({ running: 0, waiting: 0 })
    // Left by a break: the read stops and frees its slot.
    const broken = await c.readContent(f.oid, 1)
    if (!('content' in broken)) throw new Error(broken.code)
    expect(c.load.reads.running).toBe(1)
    for await (const _ of broken.content) break
    expect(c.load.reads).toEqual({ running: 0, waiting: 0 })
  })

  it('frees a read slot once the node is done with the read, consumed or not, and the content still verifies', async () => {
    // The node sends the whole content and ends the stream; nobody reads it yet.
    stub.behaviour.read = () => honestRead(f)
    const c = await client({ maxConcurrent: { reads: 1 } })
    const idle = await c.readContent(f.oid, 1)
    if (!('content' in idle)) throw new Error(idle.code)
    await until(() => c.load.reads.running === 0)
    // Nor does the client keep the read reachable: a read never consumed must not pile up listeners
    // on the client's closing signal (a load test saw one per abandoned read, until close()).
    const closing = (c as unknown as { calls: { closing: AbortController } }).calls.closing.signal
    expect(getEventListeners(closing, 'abort')).toHaveLength(0)
    const other = await c.getContent(f.oid, 1)
    expect(other.ok).toBe(true)
    const parts: Uint8Array[] = []
    for await (const piece of idle.content) parts.push(piece)
    expect(Buffer.concat(parts).equals(Buffer.from(f.content))).toBe(true)

    // A read the node resets (its minimum rate, its idle timeout) frees the slot too, never consumed.
    const held = gate()
    stub.behaviour.read = () => ({ ...honestRead(f, 100), trailer: null, pace: () => held.pass() })
    const abandoned = await c.readContent(f.oid, 1)
    if (!('content' in abandoned)) throw new Error(abandoned.code)
    expect(c.load.reads.running).toBe(1)
    await until(() => held.state.now === 1)
    for (const conn of stub.node.getConnections())
      for (const st of conn.streams) st.abort(new Error('reset by the node'))
    await until(() => c.load.reads.running === 0)
    held.open()
  })
})

describe('closing a QfsClient with calls under way', () => {
  let stub: StubNode
  let dialer: Libp2p
  const f = fixture('closing', 300_000)
  const g = gate()

  beforeAll(async () => {
    stub = await stubNode(2480)
    dialer = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
  })
  afterAll(async () => {
    g.open()
    await dialer?.stop()
    await stub?.close()
  })

  const CLOSED = { ok: false, error_code: 'SE_ERR_INTERNAL', code: 'CLIENT_CLOSED', storage_event_id: null }

  it.each([
    ['a libp2p node it was handed', true],
    ['its own libp2p node', false],
  ])('answers CLIENT_CLOSED to calls running and waiting, on %s', async (_what, handed) => {
    g.reset()
    stub.behaviour.list = async () => {
      await g.pass()
      return { next_cursor: null, objects: [] }
    }
    const c = await QfsClient.create({
      node: stub.address,
      ...(handed ? { libp2p: dialer } : {}),
      maxConcurrent: { listings: 1 },
    })
    const running = c.listObjects({})
    await until(() => g.state.now === 1)
    const waiting = c.listObjects({})
    await c.close()
    expect(await running).toMatchObject(CLOSED)
    expect(await waiting).toMatchObject(CLOSED)
    expect(c.load.listings).toEqual({ running: 0, waiting: 0 })
  })

  it('ends a read being consumed with ClientClosedError, and getContent answers CLIENT_CLOSED', async () => {
    g.reset()
    let pieces = 0
    stub.behaviour.read = () => ({
      ...honestRead(f, 50_000),
      pace: async () => {
        if (pieces++ >= 2) await g.pass()
      },
    })
    const c = await QfsClient.create({ node: stub.address, libp2p: dialer })
    const opened = await c.readContent(f.oid, 1)
    if (!('content' in opened)) throw new Error(opened.code)
    const it = opened.content[Symbol.asyncIterator]()
    expect((await it.next()).done).toBe(false)
    const stuck = it.next()
    await until(() => g.state.now === 1)
    await c.close()
    await expect(stuck).rejects.toMatchObject({ code: 'CLIENT_CLOSED' })
    expect(c.load.reads).toEqual({ running: 0, waiting: 0 })

    pieces = 0
    g.reset()
    const c2 = await QfsClient.create({ node: stub.address, libp2p: dialer })
    const whole = c2.getContent(f.oid, 1)
    await until(() => g.state.now === 1)
    await c2.close()
    expect(await whole).toMatchObject(CLOSED)
  })

  it('answers WRITE_OUTCOME_UNKNOWN, not CLIENT_CLOSED, to a write closed after its last byte went out', async () => {
    g.reset()
    let received = 0
    stub.behaviour.store = async (_request: JsonObject, bytes: number) => {
      received = bytes
      await g.pass()
      return honestStore(f)
    }
    const c = await QfsClient.create({ node: stub.address, libp2p: dialer })
    const write = c.putContent(f.oid, 1, f.content, f.metadata)
    await until(() => g.state.now === 1)
    await c.close()
    expect(received).toBe(f.content.length)
    expect(await write).toMatchObject({ ok: false, code: 'WRITE_OUTCOME_UNKNOWN' })
  })
})
