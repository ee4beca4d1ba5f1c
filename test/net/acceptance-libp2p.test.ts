import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { Libp2pTransport } from '../../src/net/transport.js'
import { expectOk, findObject } from '../engine/consistency-claims-helpers.js'
import { forgeRecord } from '../engine/forged-record.js'
import { bytesOf, meta } from '../engine/suite.js'
import { type Libp2pNetwork, libp2pHarness } from './harness.js'

// docs/protocol.md 4.7 over the wire: homes answer a commit with their signature, the coordinator
// forwards a majority of them, and a holder that is no home refuses a record without them.

let net: Libp2pNetwork | undefined
afterEach(async () => {
  await net?.close()
  net = undefined
})

describe('home acceptances over libp2p', () => {
  it('carry an honest write to the holders that are no home, and a made-up record is refused there', async () => {
    net = await libp2pHarness(5)
    const n = net
    const p = findObject(n.nodeIds, 'wire-outer', (o) => o.replicas[0]!.some((x) => !o.homes.includes(x)))
    const holder = p.replicas[0]!.find((x) => !p.homes.includes(x))!
    // A hostile eligible node: its own transport, as any peer in the snapshot has.
    const attacker = n.nodeIds.find((x) => x !== holder)!
    const resolve = (id: string) =>
      (n.membership.current().nodes.get(id)?.multiaddrs ?? []).map((a) => multiaddr(a))
    const hostile = new Libp2pTransport(
      { libp2p: n.libp2p.get(attacker)!, resolve, local: n.locals.get(attacker)!.service },
      { limits: { idleTimeoutMs: 5_000, requestTimeoutMs: 5_000 } },
    )
    try {
      const forged = forgeRecord({
        oid: p.oid,
        version: 1,
        content: bytesOf('junk', 3000),
        replicas: p.replicas,
        homes: p.homes,
      })
      const [staged] = await hostile.stageShards(holder, [forged.shards[0]!])
      const refused = await hostile
        .commitVersion(holder, {
          record: forged.record,
          staged: [{ shard_id: staged!.shard_id, staging_id: staged!.staging_id }],
          acceptances: [{ node_id: p.homes[0]!, signature: 'ab'.repeat(64) }],
        })
        .then(
          () => undefined,
          (err: unknown) => err as { code?: string },
        )
      expect(refused?.code).toBe('NOT_DECIDED')
      const content = bytesOf('real', 3000)
      const put = await n.engine(p.homes[0]!).putContent(p.oid, 1, content, meta(1))
      expectOk(put)
      expect(put.replica_sets[put.shard_ids[0]!]).toContain(holder)
      expect((await n.locals.get(holder)!.store.getRecord(p.oid, 1))?.record.hash_commit).toBe(
        put.hash_commit,
      )
      const got = await n.engine(holder).getContent(p.oid, 1)
      expect(got.ok && Buffer.from(got.content_bytes).equals(Buffer.from(content))).toBe(true)
    } finally {
      hostile.close()
    }
  })
})
