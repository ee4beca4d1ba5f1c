import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ed25519 } from '@noble/curves/ed25519.js'
import { sha3_256 } from '@noble/hashes/sha3.js'
import { afterEach, describe, expect, it } from 'vitest'
import { concatBytes, fromHex, toHex, utf8 } from '../../src/core/bytes.js'
import { canonicalBytes } from '../../src/core/canonical.js'
import type { VersionRecord } from '../../src/core/record.js'
import {
  type Acceptance,
  acceptanceMessage,
  checkAcceptances,
  forwardedAcceptances,
  signAcceptance,
} from '../../src/engine/acceptance.js'
import { peerAcceptanceKeys } from '../../src/net/acceptance-keys.js'
import { parseCommitRequest } from '../../src/net/messages.js'
import { InProcessKeyring } from '../../src/node/keyring.js'
import { engineOn, expectOk, findObject, type Harness } from './consistency-claims-helpers.js'
import { forgeRecord } from './forged-record.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

// A holder that is no home of an object keeps a record only with a majority of its homes' signed
// acceptances (docs/protocol.md 4.7): else any eligible peer could commit a made-up record there
// first and make the holder refuse the decided one.

let h: Harness | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
})

const codeOf = (err: unknown) => (err as { code?: string } | undefined)?.code
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (err: unknown) => err,
  )

/** An object with a shard whose replicas include a node that is no home of it. */
function withOuterHolder(nodeIds: readonly string[], label: string) {
  const p = findObject(nodeIds, label, (o) => o.replicas[0]!.some((n) => !o.homes.includes(n)))
  const holder = p.replicas[0]!.find((n) => !p.homes.includes(n))!
  return { p, holder }
}

describe('acceptances', () => {
  const record = forgeRecord({
    oid: 'a'.repeat(64),
    version: 1,
    content: bytesOf('x', 100),
    replicas: [0, 1, 2, 3].map(() => ['h1', 'h2', 'h3']),
    homes: ['h1', 'h2', 'h3'],
  }).record
  const ring = new InProcessKeyring()
  const signedBy = async (node: string, r: VersionRecord = record): Promise<Acceptance> => ({
    node_id: node,
    signature: await signAcceptance(ring.keysOf(node), r),
  })
  const check = (acceptances: Acceptance[]) =>
    refusal(checkAcceptances(record, acceptances, ring.keysOf('holder'))).then(codeOf)

  it('pass with a majority of distinct homes, and only then', async () => {
    expect(await check([await signedBy('h1'), await signedBy('h3')])).toBeUndefined()
    expect(await check([await signedBy('h2')])).toBe('NOT_DECIDED')
    // The same home twice, a node that is no home, a record other than this one: none counts.
    expect(await check([await signedBy('h1'), await signedBy('h1')])).toBe('NOT_DECIDED')
    expect(await check([await signedBy('h1'), await signedBy('holder')])).toBe('NOT_DECIDED')
    const other = { ...record, version: 2 }
    expect(await check([await signedBy('h1'), await signedBy('h2', other)])).toBe('NOT_DECIDED')
    // A signature put under another home's name, or not hex at all.
    const h2 = await signedBy('h2')
    expect(await check([await signedBy('h1'), { node_id: 'h3', signature: h2.signature }])).toBe(
      'NOT_DECIDED',
    )
    expect(await check([await signedBy('h1'), { node_id: 'h3', signature: 'zz' }])).toBe('NOT_DECIDED')
    // An entry that is no hex at all does not hide the same home's valid one after it.
    expect(
      await check([await signedBy('h1'), { node_id: 'h3', signature: 'zz' }, await signedBy('h3')]),
    ).toBeUndefined()
    expect(await check([])).toBe('NOT_DECIDED')
  })

  it('cost at most one verification per home, however many entries name it', async () => {
    let verified = 0
    const base = ring.keysOf('holder')
    const counting = {
      sign: base.sign,
      verify: (...args: Parameters<typeof base.verify>) => {
        verified++
        return base.verify(...args)
      },
    }
    const junk = Array.from({ length: 16 }, () => ({ node_id: 'h1', signature: 'ab'.repeat(64) }))
    expect(codeOf(await refusal(checkAcceptances(record, junk, counting)))).toBe('NOT_DECIDED')
    expect(verified).toBe(1)
    // Every home's is checked, once: a holder that sees all of them vouch keeps the record as one
    // no home lacks (DecidedRecords).
    verified = 0
    const all = [await signedBy('h1'), await signedBy('h2'), await signedBy('h3'), await signedBy('h2')]
    expect(await checkAcceptances(record, all, counting)).toBe(3)
    expect(verified).toBe(3)
    expect(await checkAcceptances(record, [all[0]!, all[2]!], counting)).toBe(2)
  })

  it('are all forwarded, and up to 64 of them cross the wire', async () => {
    const answers = await Promise.all(
      ['h1', 'h2', 'h3'].map(async (node) => ({
        node,
        value: { acceptance: (await signedBy(node)).signature },
      })),
    )
    expect(forwardedAcceptances([{ node: 'hx' }, ...answers]).map((a) => a.node_id)).toEqual([
      'h1',
      'h2',
      'h3',
    ])
    const wide = Array.from({ length: 64 }, (_, i) => ({ node_id: `n${i}`, signature: 'ab'.repeat(64) }))
    const request = (acceptances: unknown[]) => ({ record, staged: [], acceptances })
    expect(parseCommitRequest(request(wide)).acceptances).toHaveLength(64)
    expect(() => parseCommitRequest(request([...wide, wide[0]]))).toThrow(/at most 64/)
    expect(() => parseCommitRequest(request([{ node_id: 'h1', signature: 'AB' }]))).toThrow(/hex/)
  })

  it('of a daemon are Ed25519 signatures of its peer key over the context and the record digest', async () => {
    const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(7))
    const nodeId = peerIdFromPrivateKey(key).toString()
    const keys = peerAcceptanceKeys(key)
    const signature = fromHex(await signAcceptance(keys, record))
    // Independently: @noble/hashes for the digest of PROTOCOL.md's canonical JSON, @noble/curves for
    // the signature, against the public key the peer id carries.
    const message = concatBytes([utf8('qfs-record-acceptance/1\n'), sha3_256(canonicalBytes(record))])
    expect(toHex(acceptanceMessage(record))).toBe(toHex(message))
    expect(ed25519.verify(signature, message, key.publicKey.raw)).toBe(true)
    expect(await keys.verify(nodeId, message, signature)).toBe(true)
    // Another peer's id, a flipped bit, an id that is no peer id: refused, never thrown.
    const other = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(8)))
    expect(await keys.verify(other.toString(), message, signature)).toBe(false)
    const flipped = signature.slice()
    flipped[0]! ^= 1
    expect(await keys.verify(nodeId, message, flipped)).toBe(false)
    expect(await keys.verify('node-1', message, signature)).toBe(false)
    // The key objects are built once, not per signature: the same bytes as the library signs, and a
    // signature of another length is refused like the library's (which throws on it).
    expect(toHex(signature)).toBe(toHex(await key.sign(message)))
    expect(await keys.verify(nodeId, message, signature.subarray(0, 63))).toBe(false)
    expect(await keys.verify(nodeId, message, new Uint8Array(0))).toBe(false)
  })
})

describe('a holder that is no home', () => {
  it('refuses a made-up record without the homes, so the decided one still commits there', async () => {
    h = await inProcessHarness(5)
    const { p, holder } = withOuterHolder(h.nodeIds, 'outer-holder')
    // A hostile eligible peer stages junk for shard 0 on the holder and commits a record of its own.
    const forged = forgeRecord({
      oid: p.oid,
      version: 1,
      content: bytesOf('junk', 3000),
      replicas: p.replicas,
      homes: p.homes,
    })
    const staged = await h.net.transport.stageShards(holder, [forged.shards[0]!])
    const commit = (acceptances?: Acceptance[]) =>
      refusal(
        h!.net.transport.commitVersion(holder, {
          record: forged.record,
          staged: [{ shard_id: staged[0]!.shard_id, staging_id: staged[0]!.staging_id }],
          acceptances,
        }),
      )
    expect(codeOf(await commit())).toBe('NOT_DECIDED')
    // Its own signature (as if it were a home) and a home's signature over another record: no majority.
    const real = await h.engine(h.nodeIds[0]!).putContent(p.oid, 1, bytesOf('real', 3000), meta(1))
    expectOk(real)
    const ring = new InProcessKeyring()
    const selfSigned = {
      node_id: p.homes[0]!,
      signature: await signAcceptance(ring.keysOf(p.homes[0]!), forged.record),
    }
    expect(codeOf(await commit([selfSigned]))).toBe('NOT_DECIDED')
    expect(await h.net.node(holder).store.getRecord(p.oid, 1)).toMatchObject({
      record: { hash_commit: real.hash_commit },
    })
    const got = await engineOn(h, holder).getContent(p.oid, 1)
    expect(got.ok && Buffer.from(got.content_bytes).equals(Buffer.from(bytesOf('real', 3000)))).toBe(true)
  })

  it('keeps no record of an object it neither is a home of nor holds a staged shard of, even a decided one', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'bystander', (o) =>
      h!.nodeIds.some((n) => !o.homes.includes(n) && !o.replicas.flat().includes(n)),
    )
    const bystander = h.nodeIds.find((n) => !p.homes.includes(n) && !p.replicas.flat().includes(n))!
    expectOk(await h.engine(p.homes[0]!).putContent(p.oid, 1, bytesOf('bystander', 3000), meta(1)))
    const record = (await h.net.node(p.homes[0]!).service.getRecord(p.oid, 1))!
    // Every home vouches for it (a repeated commit is answered idempotently, signed).
    const acceptances: Acceptance[] = []
    for (const home of p.homes) {
      const answer = await h.net.transport.commitVersion(home, { record, staged: [] })
      acceptances.push({ node_id: home, signature: answer.acceptance! })
    }
    const refused = await refusal(
      h.net.transport.commitVersion(bystander, { record, staged: [], acceptances }),
    )
    expect(codeOf(refused)).toBe('INVALID_INPUT')
    expect(await h.net.node(bystander).store.getRecord(p.oid, 1)).toBeUndefined()
  })

  it('commits no staged shard the record does not place on it, even at a home', async () => {
    h = await inProcessHarness(5)
    const p = findObject(h.nodeIds, 'misplaced', (o) => o.homes.some((n) => !o.replicas[0]!.includes(n)))
    const home = p.homes.find((n) => !p.replicas[0]!.includes(n))!
    const content = bytesOf('misplaced', 3000)
    expectOk(await h.engine(p.homes[0]!).putContent(p.oid, 1, content, meta(1)))
    const record = (await h.net.node(home).service.getRecord(p.oid, 1))!
    // Shard 0's own bytes, staged where shard 0 is not placed.
    const shard0 = forgeRecord({ oid: p.oid, version: 1, content, replicas: p.replicas, homes: p.homes })
      .shards[0]!
    expect(shard0.header.shard_id).toBe(record.shards[0]!.shard_id)
    const [staged] = await h.net.transport.stageShards(home, [shard0])
    const refused = await refusal(
      h.net.transport.commitVersion(home, {
        record,
        staged: [{ shard_id: staged!.shard_id, staging_id: staged!.staging_id }],
      }),
    )
    expect(codeOf(refused)).toBe('INVALID_INPUT')
    expect(await h.net.node(home).store.getManifest(record.shards[0]!.shard_id)).toBeUndefined()
  })

  it('keeps a record two of three homes vouch for when the third answers a bad acceptance', async () => {
    h = await inProcessHarness(5)
    const { p } = withOuterHolder(h.nodeIds, 'bad-acceptance')
    const bad = p.homes[0]!
    const holders = [...new Set(p.replicas.flat())].filter((n) => !p.homes.includes(n))
    const refusals: string[] = []
    const transport = h.net.transport as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>
    const commitVersion = transport.commitVersion!.bind(h.net.transport)
    transport.commitVersion = async (node: unknown, ...rest: unknown[]) => {
      try {
        const answer = (await commitVersion(node, ...rest)) as { acceptance?: string }
        // The first home answers 64 bytes that are not its signature.
        return node === bad && answer.acceptance !== undefined
          ? { ...answer, acceptance: 'ab'.repeat(64) }
          : answer
      } catch (err) {
        refusals.push(`${node as string}: ${codeOf(err)}`)
        throw err
      }
    }
    try {
      const coordinator = h.nodeIds.find((n) => !p.homes.includes(n))!
      const put = await h.engine(coordinator).putContent(p.oid, 1, bytesOf('bad-acc', 3000), meta(1))
      expectOk(put)
      expect(refusals).toEqual([])
      const missing = new Set(Object.values(put.under_replicated).flat())
      for (const n of holders) expect(missing.has(n)).toBe(false)
    } finally {
      transport.commitVersion = commitVersion
    }
  })

  it('commits a decided record in a roll-forward, with acceptances it asks the homes for', async () => {
    h = await inProcessHarness(5)
    const { p, holder } = withOuterHolder(h.nodeIds, 'outer-roll')
    // The coordinator stops after the decide: the holder's staged shard waits for the roll-forward.
    const transport = h.net.transport as unknown as Record<string, (...a: unknown[]) => unknown>
    const commitVersion = transport.commitVersion!.bind(h.net.transport)
    transport.commitVersion = (node: unknown, ...rest: unknown[]) =>
      node === holder && (rest[0] as { record: VersionRecord }).record.object_id === p.oid
        ? Promise.reject(Object.assign(new Error('coordinator stopped'), { code: 'NODE_UNAVAILABLE' }))
        : commitVersion(node, ...rest)
    const put = await h.engine(p.homes[0]!).putContent(p.oid, 1, bytesOf('rolled', 3000), meta(1))
    transport.commitVersion = commitVersion
    // Acknowledged or not, the version is decided at the homes; the holder has no record yet.
    expect(put.ok || put.code === 'QUORUM_NOT_REACHED').toBe(true)
    expect(await h.net.node(holder).store.getRecord(p.oid, 1)).toBeUndefined()
    const stale = await h.net.node(holder).store.staleStaged(0)
    const rolled = await h.net.engine(holder).rollForwardStaged(stale.filter((s) => s.objectId === p.oid))
    expect(rolled.committed.length).toBeGreaterThan(0)
    expect(rolled.undecided).toEqual([])
    expect((await h.net.node(holder).store.getRecord(p.oid, 1))?.record.catalogue_homes).toEqual(p.homes)
  })
})
