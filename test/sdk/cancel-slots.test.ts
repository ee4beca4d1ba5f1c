import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import type { EngineFailure } from '../../src/engine/responses.js'
import type { QfsClient } from '../../src/sdk/client.js'
import { bytesOf, meta } from '../engine/suite.js'
import type { Libp2pNetwork } from '../net/harness.js'
import { networkClient } from './harness.js'

// A client that cancels calls frees their client slots at once; the node frees its own once it has
// ended each call on its side, and a proof or listing it ends that way is logged first. A client
// that keeps within the node's caps (by default its per-address shares: 8 proofs, 2 listings; and
// 32 reads) must not meet NODE_BUSY from the node when it cancels a full set of calls and starts as
// many again at once. The coordinator here logs slowly (50 ms per audit entry, a slow disk), which
// on the old client had every new proof refused.

const LOG_MS = 50

/** A gate that stays shut until `open()`, then is shut again by `reset()`. */
function gate() {
  let open!: () => void
  let opened = new Promise<void>((resolve) => (open = resolve))
  return {
    pass: () => opened,
    open: () => open(),
    reset: () => {
      opened = new Promise<void>((resolve) => (open = resolve))
    },
  }
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10))
  expect(check()).toBe(true)
}

const refusals = (answers: ReadonlyArray<{ ok: boolean }>) =>
  answers.filter((a): a is EngineFailure => !a.ok).map((a) => a.code)

describe('calls cancelled then started again at once, on a real libp2p node that logs slowly', () => {
  let net: Libp2pNetwork
  let client: QfsClient
  let coordinator: string
  let shardId: string
  const small = objectId('cancel-slots', 'small')
  const large = objectId('cancel-slots', 'large')
  /** Shuts the other nodes' proofs and listings, and every block past a shard's first. */
  const shut = gate()
  const nodeSlots = () => net.services.get(coordinator)!.slotsInUse()

  beforeAll(async () => {
    ;({ net, client } = await networkClient(4))
    coordinator = net.nodeIds[0]!
    for (const [oid, size] of [
      [small, 3000],
      [large, 4 * 1024 * 1024],
    ] as const) {
      const stored = await client.putContent(oid, 1, bytesOf(oid, size), meta(70))
      if (!stored.ok) throw new Error(`store failed: ${JSON.stringify(stored)}`)
    }
    const record = await client.getRecord(small, 1)
    if ('error_code' in record) throw new Error('no record')
    // A shard the coordinator does not keep: it asks a replica, and the cancel cuts that exchange.
    shardId = record.shards.find((s) => !s.replicas.includes(coordinator))!.shard_id
    for (const [id, local] of net.locals) {
      const service = local.service
      const fetch = service.fetchShard.bind(service)
      service.fetchShard = (shard, from, opts) =>
        (async function* () {
          let blocks = 0
          for await (const block of fetch(shard, from, opts)) {
            if (blocks++ > 0) await shut.pass()
            yield block
          }
        })()
      if (id === coordinator) continue
      const prove = service.proveShard.bind(service)
      service.proveShard = async (shard, leaf) => {
        await shut.pass()
        return prove(shard, leaf)
      }
      const list = service.listRecords.bind(service)
      service.listRecords = async (filters) => {
        await shut.pass()
        return list(filters)
      }
    }
    const log = net.locals.get(coordinator)!.log
    const append = log.append.bind(log)
    log.append = async (...args) => {
      await new Promise((r) => setTimeout(r, LOG_MS))
      return append(...args)
    }
  })
  afterAll(async () => {
    shut.open()
    await client?.close()
    await net?.close()
  })

  /**
   * `count` calls under way on the node, cancelled, and as many started at once: the new ones must
   * all be served once the gate opens.
   */
  async function cancelThenCall<T extends { ok: boolean }>(
    count: number,
    inUse: () => number,
    call: (signal?: AbortSignal) => Promise<T>,
  ): Promise<void> {
    for (let round = 0; round < 3; round++) {
      const callers = Array.from({ length: count }, () => new AbortController())
      const cancelled = callers.map((c) => call(c.signal))
      await until(() => inUse() === count)
      for (const c of callers) c.abort(new Error('the caller gave up'))
      const fresh = Array.from({ length: count }, () => call())
      expect(refusals(await Promise.all(cancelled))).toEqual(Array(count).fill('NODE_UNAVAILABLE'))
      // Let every fresh call reach the node (or its refusal come back) before the gate opens.
      await new Promise((r) => setTimeout(r, 200 + count * LOG_MS))
      shut.open()
      expect(refusals(await Promise.all(fresh))).toEqual([])
      shut.reset()
    }
  }

  it('proofs: 8 cancelled, 8 started at once, none refused NODE_BUSY', async () => {
    expect(client.load.proofs).toEqual({ running: 0, waiting: 0 })
    await cancelThenCall(
      8,
      () => nodeSlots().proofs,
      (signal) => client.fetchStorageProof(small, 1, shardId, { signal }),
    )
  })

  it('listings: 2 cancelled, 2 started at once, none refused NODE_BUSY', async () => {
    await cancelThenCall(
      2,
      () => nodeSlots().listings,
      (signal) => client.listObjects({}, { signal }),
    )
  })

  // A read logs when it opens: one cancelled once its header is in ends on the node without logging
  // again, and the client does not ask again for reads (docs/sdk.md). This pins that it needs not.
  it('reads: 32 opened and cancelled, 32 opened at once, none refused NODE_BUSY', async () => {
    for (let round = 0; round < 3; round++) {
      const opened = await Promise.all(Array.from({ length: 32 }, () => client.readContent(large, 1)))
      expect(refusals(opened)).toEqual([])
      expect(nodeSlots().reads).toBe(32)
      for (const read of opened) if ('cancel' in read) read.cancel()
      const fresh = Array.from({ length: 32 }, () => client.readContent(large, 1))
      await new Promise((r) => setTimeout(r, 200))
      shut.open()
      const again = await Promise.all(fresh)
      expect(refusals(again)).toEqual([])
      for (const read of again) if ('cancel' in read) read.cancel()
      await until(() => nodeSlots().reads === 0)
      shut.reset()
    }
  })
})
